"""Storage errors, explained for a person: one line saying what went wrong and what to do."""

from __future__ import annotations

from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from stampside.devicelink.errors import SinkError

#: How long SQLite waits for another writer before giving up (the busy timeout).
BUSY_TIMEOUT_SECONDS = 5.0
#: The database URLs Stampside takes, as its error messages name them.
ACCEPTED_URLS = "sqlite:///PATH (or just the file's PATH) or postgresql+psycopg://USER@HOST/DB"
#: PostgreSQL's SQLSTATE for a privilege the role lacks (psycopg's ``InsufficientPrivilege``).
INSUFFICIENT_PRIVILEGE = "42501"


class StorageError(SinkError):
    """The database could not be opened, read or written. The message says what to do."""


def describe_url(url: URL | str) -> str:
    """The URL without its password, or the file path for SQLite."""
    if isinstance(url, str):
        return url
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)


def is_insufficient_privilege(exc: BaseException) -> bool:
    """Whether the server refused ``exc``'s statement for a privilege the role lacks (PostgreSQL's 42501)."""
    driver_error = exc.orig if isinstance(exc, DBAPIError) else exc
    return getattr(driver_error, "sqlstate", None) == INSUFFICIENT_PRIVILEGE


def server_message(exc: BaseException) -> str:
    """The server's own one-line message (PostgreSQL's primary message, without the statement it quotes)."""
    driver_error = exc.orig if isinstance(exc, DBAPIError) else exc
    primary = getattr(getattr(driver_error, "diag", None), "message_primary", None)
    return " ".join(str(primary or driver_error).split())


def role_of(url: URL | str) -> str:
    """``the role 'NAME'`` of a URL that names its user, else ``this role``."""
    return f"the role '{url.username}'" if isinstance(url, URL) and url.username else "this role"


def explain(url: URL | str, exc: BaseException) -> StorageError:
    """Turn a SQLAlchemy or driver error into a :class:`StorageError` with advice."""
    where = describe_url(url)
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, NoSuchModuleError):
        # SQLAlchemy has no dialect of that name: a typo far more often than a missing plug-in.
        kind = f" ({url.drivername!r} is no database Stampside knows)" if isinstance(url, URL) else ""
        return StorageError(f"not a database URL: {where!r}{kind}; use {ACCEPTED_URLS}")
    if isinstance(exc, ArgumentError | ValueError):
        return StorageError(f"not a database URL: {where!r}; use {ACCEPTED_URLS}")
    if isinstance(exc, ModuleNotFoundError):
        if (exc.name or "").split(".")[0] == "psycopg":
            needs = "PostgreSQL needs Stampside's 'postgres' extra: pip install 'stampside[postgres]'"
            return StorageError(f"{where}: {needs}")
        return StorageError(f"{where}: the database driver {exc.name!r} is not installed (pip install it)")
    text = str(exc.orig) if isinstance(exc, DBAPIError) else str(exc)
    text = " ".join(text.split())  # one line: PostgreSQL's messages come on several
    lowered = text.lower()
    if is_insufficient_privilege(exc):
        return StorageError(
            f"{role_of(url)} may not do this on {where} ({server_message(exc)}): the owner role gives the app role "
            "what it needs with 'stampside db roles --app-role NAME --apply', again after every 'stampside db "
            "upgrade' (stampside docs clinic-server)"
        )
    if "certificate" in lowered or "ssl error" in lowered or "does not support ssl" in lowered:
        return StorageError(
            f"the TLS connection to {where} failed: {text}; with sslmode=verify-full, sslrootcert= names the CA "
            "certificate that signed the server's and the URL's host must be one the server's certificate names "
            "(stampside docs clinic-server)"
        )
    if "database is locked" in lowered or "database table is locked" in lowered:
        return StorageError(
            f"the database {where} is locked by another program for more than {BUSY_TIMEOUT_SECONDS:g} s "
            "(another stampside writing to it?); stop that program or choose another --db"
        )
    if "unable to open database file" in lowered:
        return StorageError(
            f"cannot open the database file {where}: its folder does not exist or is not writable; "
            "choose another --db or set STAMPSIDE_DB"
        )
    if "readonly database" in lowered or "read-only" in lowered:
        return StorageError(f"the database file {where} is read-only; fix its permissions or choose another --db")
    if "file is not a database" in lowered or "malformed" in lowered:
        return StorageError(f"{where} is not a Stampside database (or it is damaged); choose another --db")
    if "disk is full" in lowered or "no space" in lowered:
        return StorageError(f"the disk holding {where} is full; free some space")
    if "connection refused" in lowered or "could not connect" in lowered or "connection failed" in lowered:
        return StorageError(f"cannot reach the database server {where}: {text} (check --db)")
    if isinstance(exc, SQLAlchemyError | OSError):
        return StorageError(f"database error on {where}: {text}")
    return StorageError(f"database error on {where}: {exc!r}")
