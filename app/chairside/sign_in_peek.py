"""Who can sign in, read before the storage layer is loaded: the sign-in screen's first list.

Start-up paints the sign-in screen as soon as it can. Loading SQLAlchemy, the schema and the
migrations takes most of a second, and the practitioner only needs to see their name to start
typing their PIN. So for a SQLite database the screen first shows what this module reads with
Python's own ``sqlite3``, read only, in a few milliseconds; once the database is open the list
is read again through storage (:func:`stampside.app.chairside.sign_in.sign_in_choices`) and
replaces it, so what is checked, signed and stored never rests on this peek. A test keeps the
two reads equal on the same database.

:func:`peek_sign_in_choices` returns ``None`` whenever it cannot be sure (another database
server, a file it cannot read, a schema without these tables, a locked file): the screen then
waits for storage as before.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

__all__ = ["SignInChoice", "peek_sign_in_choices", "sqlite_file_of"]

_QUERY = (
    "SELECT p.id, p.name, pin.practitioner_id IS NOT NULL FROM practitioners AS p "
    "LEFT JOIN practitioner_pins AS pin ON pin.practitioner_id = p.id "
    "WHERE p.active = 1 ORDER BY p.name"
)


@dataclass(frozen=True, slots=True)
class SignInChoice:
    """A practitioner offered at sign-in; one without a PIN chooses it at their first sign-in."""

    id: int
    name: str
    has_pin: bool


def sqlite_file_of(url: str) -> Path | None:
    """The file of a plain ``sqlite:///PATH`` URL (no driver, no options), else ``None``."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url:
        return None
    path = unquote(url[len(prefix) :])
    if not path or path == ":memory:":
        return None
    return Path(path)


def peek_sign_in_choices(url: str) -> list[SignInChoice] | None:
    """The active practitioners by name, each with whether they have a PIN, as stored in the SQLite
    file of ``url``; ``[]`` for a file not made yet; ``None`` when it cannot tell (see the module)."""
    path = sqlite_file_of(url)
    if path is None:
        return None
    if not path.exists():
        return []  # a new database: nobody yet (storage makes the file next)
    try:
        connection = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=0)
    except sqlite3.Error:
        return None
    try:
        rows = connection.execute(_QUERY).fetchall()
    except sqlite3.Error:  # no such table yet (an empty or very old file), locked, not a database
        return None
    finally:
        connection.close()
    return [SignInChoice(int(row[0]), str(row[1]), bool(row[2])) for row in rows]
