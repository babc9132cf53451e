"""The audit trail's hashes: canonical JSON of a record, SHA-256 of it, of a group of stamps and of an entry.

These functions are a **stored format**: every entry of every clinic's trail was hashed with
them, and ``stampside audit verify`` recomputes the hashes with them. Changing any of them
(the JSON form, the stamp line, the order of the stamp columns) makes every existing trail
fail to verify. Migration v0005, which builds the baseline of an existing database, uses them
too; they import nothing but the standard library.

* A record's **content** is its row as the database gives it back, column name → value (on
  SQLite: text, integers, floats, NULL). :func:`canonical_json` writes it with sorted keys and
  no spaces; a float with an integral value is written as the integer (SQLite may hand back
  ``7.0`` for a ``7`` it stored in a REAL column), a flag as 0/1 and a timestamp as SQLite's
  text for it in UTC (``2026-02-09 09:00:00.000000``) whatever the driver hands back (PostgreSQL
  gives ``True`` and timezone-aware datetimes), so a record hashes alike on both and a trail
  copied from one to the other still verifies; dates in ISO 8601, decimals as text, bytes as
  ``{"$hex": ...}``. :func:`content_hash` is the SHA-256 of that text.
* **Stamps** are kept as one total per treatment session (per device for stamps outside a
  session): the count and a digest, the sum modulo 2**256 of the SHA-256 of each stamp's line
  (:func:`stamp_bytes`: its columns as 64-bit integers, the time it was received in
  microseconds, so the app's time and the database's text for it hash alike). A sum does not depend on the order the
  stamps arrived in, so a batch adds its part without reading the session's earlier stamps
  back, and verification recomputes it from the stored stamps in any order.
* An **entry** is hashed over its fields, the previous entry's hash among them
  (:func:`entry_hash`): editing or removing an entry breaks the chain from there on.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

__all__ = [
    "GENESIS_HASH",
    "STAMP_COLUMNS",
    "canonical_json",
    "content_hash",
    "entry_hash",
    "record_key",
    "stamp_bytes",
    "stamp_digest",
    "stamp_line",
    "stamp_line_hash",
    "stamp_totals",
]

#: The ``prev_hash`` of the first entry.
GENESIS_HASH = "0" * 64
#: A stamp's columns in the order its line lists them (``id`` is left out: the database assigns it).
STAMP_COLUMNS = (
    "device_id",
    "boot",
    "seq",
    "device_time_ms",
    "force_dn",
    "contact_ms",
    "zone",
    "received_at",
    "replay",
    "session_id",
    "credited_zone",
)
_MODULUS = 1 << 256
_RECEIVED_AT = STAMP_COLUMNS.index("received_at")
_REPLAY = STAMP_COLUMNS.index("replay")
_SESSION_ID = STAMP_COLUMNS.index("session_id")
_CREDITED_ZONE = STAMP_COLUMNS.index("credited_zone")
_COLUMNS = len(STAMP_COLUMNS)
_SESSION_NULL = 1 << _SESSION_ID
_ZONE_NULL = 1 << _CREDITED_ZONE
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
#: A stamp line: 11 signed 64-bit integers and the bitmask of the NULL ones.
_LINE = struct.Struct("<12q")


def _plain(value: Any) -> Any:
    """``value`` in the JSON form the hashes are taken over (see the module's notes)."""
    if isinstance(value, bool):  # SQLite gives 0/1 for a flag, PostgreSQL True/False
        return int(value)
    if value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        # The text SQLite stores for it (UTC, microseconds always written), which is what a SQLite
        # trail hashed; a driver that hands back datetimes (PostgreSQL) then hashes alike.
        moment = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$hex": bytes(value).hex()}
    raise TypeError(f"cannot hash a {type(value).__name__} value")


def canonical_json(value: Any) -> str:
    """``value`` as canonical JSON: sorted keys, no spaces, non-ASCII kept, stable numbers and times."""
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def plain_values(content: Mapping[str, Any]) -> dict[str, Any]:
    """A record's values in the JSON form its hash is taken over (times as ISO text, …), to compare
    with an entry's ``after_values`` whatever the driver read back (PostgreSQL gives datetimes)."""
    plain: dict[str, Any] = _plain(content)
    return plain


def content_hash(content: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a record's content: a row, or a stamp total."""
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def record_key(key: Mapping[str, Any]) -> str:
    """How an entry names its record: the primary key (or a stamp group) as canonical JSON."""
    return canonical_json(key)


def _instant(value: Any) -> Any:
    """A stamp's ``received_at`` as whole microseconds since 1970 UTC (a time without a zone is UTC)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value  # not a time (changed outside the app): hashed as it is
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return (moment - _EPOCH) // _MICROSECOND
    return value


def stamp_line(values: Sequence[Any]) -> tuple[Any, ...]:
    """A stamp's :data:`STAMP_COLUMNS` values as its hash sees them, however they were read.

    The database's text for ``received_at`` and the app's timezone-aware time both become whole
    microseconds since 1970 UTC, and ``replay`` 0/1 whether it was a flag or a number; every other
    value is kept as it is.
    """
    line = list(values)
    line[_RECEIVED_AT] = _instant(line[_RECEIVED_AT])
    if isinstance(line[_REPLAY], bool):
        line[_REPLAY] = int(line[_REPLAY])
    return tuple(line)


def stamp_bytes(values: Sequence[Any]) -> bytes:
    """What a stamp's hash is taken over: its :func:`stamp_line` as 11 signed 64-bit little-endian
    integers (NULL as 0) and a 12th whose bit *i* says column *i* is NULL.

    A value that is not such an integer (only a change outside the app makes one) gives
    ``b"?"`` and the ``repr`` of the line instead: it can never hash like the stamp the app stored.
    """
    line = stamp_line(values)
    nulls = sum(1 << index for index, value in enumerate(line) if value is None)
    try:
        return _LINE.pack(*(0 if value is None else value for value in line), nulls)
    except struct.error:  # text, a fraction, a number out of range
        return b"?" + repr(line).encode("utf-8")


def stamp_line_hash(values: Sequence[Any]) -> int:
    """One stamp's part of a digest: SHA-256 of its :func:`stamp_bytes`, as a number."""
    return int.from_bytes(hashlib.sha256(stamp_bytes(values)).digest(), "big")


def stamp_digest(lines: Iterable[Sequence[Any]], start: int = 0) -> int:
    """``start`` plus :func:`stamp_line_hash` of each stamp, modulo 2**256.

    This runs for every stamp the link stores, so a stamp as the app stores it (integers, a time
    in UTC, a flag, NULL only for its session and credited zone) takes a quicker way to the same
    bytes; anything else goes through :func:`stamp_bytes`.
    """
    sha256 = hashlib.sha256
    from_bytes = int.from_bytes
    pack = _LINE.pack
    total = start
    for values in lines:
        moment, session_id, zone = values[_RECEIVED_AT], values[_SESSION_ID], values[_CREDITED_ZONE]
        data = None
        if type(moment) is datetime and moment.tzinfo is UTC and len(values) == _COLUMNS:
            nulls = (_SESSION_NULL if session_id is None else 0) | (_ZONE_NULL if zone is None else 0)
            try:
                data = pack(
                    *values[:_RECEIVED_AT],
                    (moment - _EPOCH) // _MICROSECOND,
                    values[_REPLAY],
                    0 if session_id is None else session_id,
                    0 if zone is None else zone,
                    nulls,
                )
            except struct.error:  # a NULL elsewhere, or no integer: the long way
                data = None
        total += from_bytes(sha256(data if data is not None else stamp_bytes(values)).digest(), "big")
    return total % _MODULUS


def stamp_totals(count: int, digest: int) -> dict[str, Any]:
    """The content of a stamp group as its entries store it."""
    return {"count": count, "digest": f"{digest % _MODULUS:064x}"}


def entry_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of an entry's fields, ``prev_hash`` included (everything but ``entry_hash``)."""
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()
