"""PINs, lockouts and signatures on a real SQLite file: what is stored, what is never stored, what the trail says."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from stampside.app.domain.gates import Gate
from stampside.app.domain.pins import PinRefused
from stampside.app.domain.signatures import SignatureMeaning, SignedAct, Signer
from stampside.app.domain.steps import SessionFlow
from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.storage import Database, open_database
from stampside.app.storage.audit_trail import read_trail
from stampside.app.storage.audit_verify import verify_trail
from stampside.app.storage.migrate import alembic_config
from stampside.app.storage.pin_hashing import hash_pin, needs_rehash, pin_matches
from stampside.app.storage.pins import check_pin, pin_states, set_pin
from stampside.app.storage.practitioners import add_practitioner, retire_practitioner
from stampside.app.storage.schema import PractitionerPin, SecurityEvent, Signature
from stampside.app.storage.security_events import PIN_LOCKOUT, PIN_SET, list_security_events
from stampside.app.storage.sessions import finish_session, get_session, open_session
from stampside.app.storage.signatures import sign_record, signatures_of, signatures_of_patient
from stampside.app.storage.step_records import load_step_records, save_step_record, step_override_signatures
from tests.storage.conftest import T0, Seeded

PROTOCOL = default_protocol()
PIN = "4711"


def with_pin(clinic: Database, practitioner_id: int, pin: str = PIN) -> Signer:
    with clinic.Session.begin() as session:
        return set_pin(session, practitioner_id, pin, pin, now=T0)


def attempt(clinic: Database, practitioner_id: int, pin: str, minutes: float = 0) -> tuple[Signer | None, str]:
    with clinic.Session.begin() as session:
        checked = check_pin(session, practitioner_id, pin, now=T0 + timedelta(minutes=minutes))
    return checked.signer, checked.message


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # reads the SQLite file and its WAL
def test_a_pin_is_stored_as_an_argon2_hash_never_in_clear_anywhere_in_the_file(
    clinic: Database, seeded: Seeded, db_url: str
) -> None:
    signer = with_pin(clinic, seeded.practitioner_id, "7393-secret")
    assert signer == Signer(seeded.practitioner_id, "Dr Ada")
    with clinic.Session.begin() as session:
        stored = session.get_one(PractitionerPin, seeded.practitioner_id)
        assert stored.pin_hash.startswith("$argon2id$") and pin_matches(stored.pin_hash, "7393-secret")
        trail = list(read_trail(session))
    clinic.close()
    db_file = Path(db_url.removeprefix("sqlite:///"))
    raw = b"".join(path.read_bytes() for path in db_file.parent.iterdir() if path.name.startswith(db_file.name))
    assert b"7393-secret" not in raw, "the PIN itself is nowhere in the database or its WAL"
    assert all("pin_hash" not in str(entry.after) for entry in trail), "the trail holds no PIN hash either"


def test_the_product_hashes_with_rfc_9106_low_memory_and_a_cheaper_hash_is_upgraded_on_sign_in(
    clinic: Database, seeded: Seeded
) -> None:
    from argon2 import profiles

    from stampside.app.storage.pin_hashing import DEFAULT_PARAMETERS, use_parameters

    assert DEFAULT_PARAMETERS == profiles.RFC_9106_LOW_MEMORY
    with_pin(clinic, seeded.practitioner_id)  # hashed with the tests' cheap parameters
    before = use_parameters(profiles.RFC_9106_LOW_MEMORY)
    try:
        with clinic.Session.begin() as session:
            cheap = session.get_one(PractitionerPin, seeded.practitioner_id).pin_hash
        assert needs_rehash(cheap)
        assert attempt(clinic, seeded.practitioner_id, PIN)[0] is not None
        with clinic.Session.begin() as session:
            upgraded = session.get_one(PractitionerPin, seeded.practitioner_id).pin_hash
        assert "m=65536,t=3,p=4" in upgraded and not needs_rehash(upgraded)
    finally:
        use_parameters(before)


def test_a_new_pin_is_typed_twice_and_only_chosen_once_without_the_command_line(
    clinic: Database, seeded: Seeded
) -> None:
    with clinic.Session.begin() as session, pytest.raises(PinRefused, match="differ"):
        set_pin(session, seeded.practitioner_id, "1234", "1243", now=T0)
    with_pin(clinic, seeded.practitioner_id)
    with clinic.Session.begin() as session, pytest.raises(PinRefused, match="has a PIN already"):
        set_pin(session, seeded.practitioner_id, "9999", "9999", now=T0)
    with clinic.Session.begin() as session:
        set_pin(session, seeded.practitioner_id, "9999", "9999", now=T0, replace=True)
    assert attempt(clinic, seeded.practitioner_id, "9999")[0] is not None


def test_wrong_pins_count_down_and_the_fifth_locks_out_with_a_security_event_in_the_trail(
    clinic: Database, seeded: Seeded
) -> None:
    with_pin(clinic, seeded.practitioner_id)
    messages = [attempt(clinic, seeded.practitioner_id, "0000")[1] for _ in range(5)]
    assert messages[:4] == [
        "wrong PIN: 4 tries left",
        "wrong PIN: 3 tries left",
        "wrong PIN: 2 tries left",
        "wrong PIN: 1 try left",
    ]
    assert messages[4] == "wrong PIN 5 times: locked for 5 minutes"
    signer, message = attempt(clinic, seeded.practitioner_id, PIN, minutes=4)
    assert signer is None and message == "too many wrong PINs: locked for 1 minute more"
    assert attempt(clinic, seeded.practitioner_id, PIN, minutes=5)[0] is not None, "the lockout is over"

    with clinic.Session.begin() as session:
        events = list_security_events(session)
        assert [(e.kind, e.practitioner) for e in events] == [(PIN_SET, "Dr Ada"), (PIN_LOCKOUT, "Dr Ada")]
        assert "5 wrong PINs in a row" in events[1].detail and PIN not in events[1].detail
        logged = [e for e in read_trail(session, tables=["security_events"])]
        assert [(e.action, e.after["kind"] if e.after else None) for e in logged] == [
            ("insert", PIN_SET),
            ("insert", PIN_LOCKOUT),
        ]
        assert verify_trail(session).ok


def test_a_right_pin_starts_the_count_again(clinic: Database, seeded: Seeded) -> None:
    with_pin(clinic, seeded.practitioner_id)
    for _ in range(4):
        attempt(clinic, seeded.practitioner_id, "0000")
    assert attempt(clinic, seeded.practitioner_id, PIN)[0] is not None
    assert attempt(clinic, seeded.practitioner_id, "0000")[1] == "wrong PIN: 4 tries left"


def test_no_pin_yet_and_a_retired_practitioner_cannot_sign_in(clinic: Database, seeded: Seeded) -> None:
    signer, message = attempt(clinic, seeded.practitioner_id, PIN)
    assert signer is None and "has no PIN yet" in message
    with_pin(clinic, seeded.practitioner_id)
    with clinic.Session.begin() as session:
        assert set(pin_states(session)) == {seeded.practitioner_id}
        retire_practitioner(session, seeded.practitioner_id)
    with clinic.Session.begin() as session, pytest.raises(PinRefused, match="retired"):
        check_pin(session, seeded.practitioner_id, PIN, now=T0)


def test_a_signed_step_override_is_stored_with_its_signature_and_read_back(clinic: Database, seeded: Seeded) -> None:
    signer = with_pin(clinic, seeded.practitioner_id)
    with clinic.Session.begin() as session:
        opened = open_session(
            session, seeded.course_id, protocol=PROTOCOL, practitioner_id=seeded.practitioner_id, now=T0
        )
    flow = SessionFlow(PROTOCOL, lambda: T0)
    flow.start("Dr Ada")
    override = flow.override(
        Gate.DEVICE_IDENTIFIED, "serial read from the label", signer.name, signer_id=signer.practitioner_id
    )
    with clinic.Session.begin() as session:
        save_step_record(session, opened.id, flow.records[0])
    with clinic.Session.begin() as session:
        (record,) = load_step_records(session, opened.id)
        signed = step_override_signatures(session, opened.id)
        (stored,) = session.scalars(select(Signature)).all()
    assert record.overrides == (override,), "the signer comes back with the override"
    assert (stored.record_type, stored.meaning, stored.signer_name, stored.patient_id) == (
        "step_overrides",
        "overridden",
        "Dr Ada",
        seeded.patient_id,
    )
    assert signed[(0, 0)].meaning is SignatureMeaning.OVERRIDDEN and signed[(0, 0)].signed_at == T0


def test_closing_a_session_signs_it_in_the_same_transaction(clinic: Database, seeded: Seeded) -> None:
    signer = with_pin(clinic, seeded.practitioner_id)
    with clinic.Session.begin() as session:
        opened = open_session(
            session, seeded.course_id, protocol=PROTOCOL, practitioner_id=seeded.practitioner_id, now=T0
        )
    closed_at = T0 + timedelta(minutes=40)
    with pytest.raises(RuntimeError), clinic.Session.begin() as session:
        finish_session(session, opened.id, now=closed_at, signer=signer)
        raise RuntimeError("the transaction fails after the signature")
    with clinic.Session.begin() as session:
        assert session.scalars(select(Signature)).all() == [], "no signature without its record"
        assert get_session(session, opened.id).status == "open"
        finished = finish_session(session, opened.id, now=closed_at, signer=signer)
    assert finished.closed_signature is not None
    assert (finished.closed_signature.signer, finished.closed_signature.meaning) == (
        "Dr Ada",
        SignatureMeaning.APPROVED,
    )
    with clinic.Session.begin() as session:
        (view,) = signatures_of_patient(session, seeded.patient_id)
        assert (view.record_type, view.record_id, view.signed_at) == ("treatment_sessions", opened.id, closed_at)
        assert signatures_of(session, "treatment_sessions", [opened.id])[opened.id] == [view]
        assert [e.table for e in read_trail(session, tables=["signatures"])] == ["signatures"]
        assert verify_trail(session).ok


def test_a_signature_names_the_signer_as_signed_even_after_a_rename(clinic: Database, seeded: Seeded) -> None:
    signer = with_pin(clinic, seeded.practitioner_id)
    with clinic.Session.begin() as session:
        sign_record(session, signer, SignedAct.ADVERSE_EVENT, 99, at=T0, patient_id=seeded.patient_id)
        add_practitioner(session, "Dr Ada Lovelace")  # another row; the signature keeps "Dr Ada"
    with clinic.Session.begin() as session:
        (view,) = signatures_of_patient(session, seeded.patient_id)
    assert (view.signer, view.meaning, view.record_type) == ("Dr Ada", SignatureMeaning.PERFORMED, "adverse_events")


def test_an_existing_database_migrates_with_no_pins_and_no_signatures(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0005")
        with Session(engine) as session, session.begin():
            add_practitioner(session, "Dr Old")
    finally:
        engine.dispose()
    database = open_database(f"sqlite:///{path}")
    try:
        with database.Session.begin() as session:
            assert pin_states(session) == {}
            assert session.scalars(select(SecurityEvent)).all() == []
    finally:
        database.close()
    tables = {row[0] for row in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"practitioner_pins", "signatures", "security_events"} <= tables


def test_hashes_are_salted_and_a_damaged_hash_matches_nothing() -> None:
    first, second = hash_pin(PIN), hash_pin(PIN)
    assert first != second and pin_matches(first, PIN) and pin_matches(second, PIN)
    assert not pin_matches(first, "4712")
    assert not pin_matches("not a hash", PIN) and needs_rehash("not a hash")
