"""Every table of the schema is either followed by the audit trail or left out of it on purpose, with why.

A new table fails here until it joins ``PATIENT_LINKS`` (:mod:`stampside.app.storage.audit`) or
:data:`NOT_AUDITED` with its reason, so no table slips out of the trail unnoticed.
"""

from __future__ import annotations

from stampside.app.storage.audit import AUDITED_TABLES, STAMP_TABLE
from stampside.app.storage.schema import Base

#: The tables the audit hooks do not follow row by row, and why.
NOT_AUDITED = {
    "audit_entries": "the trail itself",
    STAMP_TABLE: "audited as totals per session (per device outside a session), not one entry per stamp",
    "devices": "the link's bookkeeping of a device: identity, battery, delivery cursor, rewritten on every connect",
    "device_heads": "the link's bookkeeping of the heads a device reported",
    "practitioner_pins": "PIN hashes: kept apart so the trail never holds one; setting a PIN is a security event",
    "signatures": "appended to the trail by trail_appends.record_insert, not by the hooks (insert only)",
    "security_events": "appended to the trail by trail_appends.record_insert, not by the hooks (insert only)",
    "session_claims": (
        "a lock, not a clinical record: what an open session holds at its chair, deleted when it closes "
        "(the session row keeps who and when)"
    ),
}


def test_every_table_is_audited_or_left_out_with_a_reason() -> None:
    tables = set(Base.metadata.tables)
    assert tables >= AUDITED_TABLES, "an audited table the schema does not have"
    assert not AUDITED_TABLES & set(NOT_AUDITED), "both audited and not"
    assert tables - AUDITED_TABLES == set(NOT_AUDITED)
    assert all(reason.strip() for reason in NOT_AUDITED.values())
