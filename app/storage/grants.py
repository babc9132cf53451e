"""The app role's privileges on a clinic's PostgreSQL server, computed from the schema itself.

Several chairs share one PostgreSQL database (``docs/clinic-server.md``) through two roles:

* the **owner role** owns the tables and runs ``stampside db upgrade`` (the migrations); a
  table's owner can always alter, drop and truncate it, so no chair connects as this role;
* the **app role** is what every chair connects as. It reads and writes the clinical records
  and nothing more: it owns no table and gets no TRUNCATE, REFERENCES or TRIGGER privilege, so it
  cannot drop, alter or empty a table; it cannot create one in the schema; and the append-only
  tables (:data:`APPEND_ONLY_TABLES`: the audit trail first of all) take its INSERT and SELECT
  only, so nothing a chair runs can rewrite the trail, a stored stamp or a signature.

:func:`grant_statements` is the SQL that sets this up, built from the SQLAlchemy metadata
(every table of :mod:`stampside.app.storage.schema`, its serial counters, Alembic's version
table), so the page, ``stampside db roles`` and the schema cannot disagree; run it again after
every ``stampside db upgrade``: a new table gets its grants then. :func:`privilege_problems`
checks what a role can really do on a database (its own grants, those of ``PUBLIC`` and of the
roles it belongs to, being a superuser or a table's owner) against :func:`table_privileges`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, text

from stampside.app.storage.schema import Base
from stampside.app.storage.schema_version import HEAD_REVISION, VERSION_TABLE

__all__ = [
    "APPEND_ONLY_TABLES",
    "CHECKED_PRIVILEGES",
    "READ_ONLY_TABLES",
    "READ_WRITE",
    "SCHEMA",
    "RoleNameError",
    "Statement",
    "check_role_name",
    "grant_statements",
    "privilege_problems",
    "quote",
    "script",
    "sequence_names",
    "table_privileges",
]

#: The schema the migrations create the tables in.
SCHEMA = "public"
#: What the app role may do on an ordinary table: the records a chair reads, adds, changes and
#: removes (removals and changes are in the audit trail).
READ_WRITE = ("SELECT", "INSERT", "UPDATE", "DELETE")
#: Tables the app only ever appends to: the app role gets INSERT and SELECT, never UPDATE or DELETE.
APPEND_ONLY_TABLES: dict[str, str] = {
    "audit_entries": "the audit trail: every change of a record, chained by SHA-256",
    "stamp_events": "the stamps themselves, stored once and never changed",
    "signatures": "who signed what, and when",
    "security_events": "sign-in lockouts and the like",
    "corrections": "the record of each correction: what changed, why, who",
}
#: Tables the app role only reads.
READ_ONLY_TABLES: dict[str, str] = {
    VERSION_TABLE: "the schema revision: written by 'stampside db upgrade', as the owner role",
}
#: The privileges :func:`privilege_problems` compares, table by table.
CHECKED_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
#: A role name as PostgreSQL keeps one written without quotes.
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class RoleNameError(ValueError):
    """Not a role name Stampside takes; the message says what is expected."""


def check_role_name(name: str) -> str:
    """``name`` if it is a plain PostgreSQL role name (lower case, as an unquoted name is kept)."""
    if not _ROLE_NAME.fullmatch(name):
        raise RoleNameError(
            f"{name!r} is not a role name Stampside takes: lower-case letters, digits and _, "
            "starting with a letter or _, at most 63 characters"
        )
    if name == "public" or name.startswith("pg_"):
        raise RoleNameError(f"{name!r} is reserved by PostgreSQL; choose another role name")
    return name


def quote(identifier: str) -> str:
    """A table, sequence or role name quoted for SQL."""
    return '"' + identifier.replace('"', '""') + '"'


def table_privileges() -> dict[str, tuple[str, ...]]:
    """Every table of the schema → the privileges the app role has on it, by name."""
    tables = sorted([table.name for table in Base.metadata.sorted_tables] + [VERSION_TABLE])
    privileges: dict[str, tuple[str, ...]] = {}
    for name in tables:
        if name in READ_ONLY_TABLES:
            privileges[name] = ("SELECT",)
        elif name in APPEND_ONLY_TABLES:
            privileges[name] = ("SELECT", "INSERT")
        else:
            privileges[name] = READ_WRITE
    return privileges


def sequence_names() -> list[str]:
    """The counters behind the tables' serial keys, named as PostgreSQL names them (``table_id_seq``)."""
    names = []
    for table in Base.metadata.sorted_tables:
        column = table.autoincrement_column
        if column is not None:
            names.append(f"{table.name}_{column.name}_seq")
    return sorted(names)


def _grouped(privileges: dict[str, tuple[str, ...]]) -> dict[tuple[str, ...], list[str]]:
    groups: dict[tuple[str, ...], list[str]] = {}
    for table, granted in privileges.items():
        groups.setdefault(granted, []).append(table)
    return groups


def _listed(names: Iterable[str]) -> str:
    """Names quoted, comma-separated, four to an indented line, each line on its own."""
    quoted = [quote(name) for name in names]
    lines = ["    " + ", ".join(quoted[start : start + 4]) for start in range(0, len(quoted), 4)]
    return ",\n".join(lines)


@dataclass(frozen=True, slots=True)
class Statement:
    """One SQL statement, with the comment lines that explain it (or none)."""

    sql: str
    comment: tuple[str, ...] = ()


def grant_statements(app_role: str, owner_role: str | None = None) -> list[Statement]:
    """The statements that give ``app_role`` exactly :func:`table_privileges` (run in one transaction).

    Run as the role that owns the tables (or a superuser). With ``owner_role``, the tables are
    first given to that role (for a database whose tables another role made: a superuser runs it then).
    """
    check_role_name(app_role)
    app = quote(app_role)
    privileges = table_privileges()
    tables = sorted(privileges)
    sequences = sequence_names()
    statements: list[Statement] = []
    if owner_role is not None:
        check_role_name(owner_role)
        for index, table in enumerate(tables):
            comment = (f"The tables (and their counters) belong to the owner role {quote(owner_role)}.",)
            statements.append(
                Statement(f"ALTER TABLE {quote(table)} OWNER TO {quote(owner_role)};", comment * (not index))
            )
    statements += [
        Statement(
            f"REVOKE ALL ON TABLE\n{_listed(tables)}\n    FROM {app};",
            (f"Start from nothing: whatever {app} had on the tables and counters goes.",),
        ),
        Statement(f"REVOKE ALL ON SEQUENCE\n{_listed(sequences)}\n    FROM {app};"),
        Statement(
            f"REVOKE CREATE ON SCHEMA {SCHEMA} FROM PUBLIC, {app};",
            ("Only the owner creates tables in the schema (PostgreSQL 15 and newer: already so for PUBLIC).",),
        ),
        Statement(f"GRANT USAGE ON SCHEMA {SCHEMA} TO {app};"),
    ]
    comments = {
        READ_WRITE: ("The clinical records: read, add, change, remove (every change goes into the audit trail).",),
        ("SELECT", "INSERT"): (
            "Append-only, INSERT and SELECT (no UPDATE, no DELETE):",
            *(f"  {table}: {why}" for table, why in APPEND_ONLY_TABLES.items()),
        ),
        ("SELECT",): ("Read only:", *(f"  {table}: {why}" for table, why in READ_ONLY_TABLES.items())),
    }
    for granted, names in sorted(_grouped(privileges).items(), key=lambda item: -len(item[0])):
        statements.append(
            Statement(
                f"GRANT {', '.join(granted)} ON TABLE\n{_listed(names)}\n    TO {app};", comments.get(granted, ())
            )
        )
    statements.append(
        Statement(
            f"GRANT USAGE ON SEQUENCE\n{_listed(sequences)}\n    TO {app};",
            ("The counters that number new records (USAGE: nextval; setting one stays the owner's).",),
        )
    )
    return statements


def script(app_role: str, owner_role: str | None = None) -> str:
    """:func:`grant_statements` as one SQL script for ``psql`` (one transaction), with comments."""
    lines = [
        f"-- Stampside, schema revision {HEAD_REVISION}: the privileges of the app role {quote(app_role)}.",
        "-- Run connected to the clinic's database as the role that owns its tables (the one that runs",
        "-- 'stampside db upgrade'), or as a superuser; again after every 'stampside db upgrade'.",
        "-- See: stampside docs clinic-server",
        "BEGIN;",
    ]
    for statement in grant_statements(app_role, owner_role):
        lines += [f"-- {line}" for line in statement.comment]
        lines.append(statement.sql)
    lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


def _some(names: list[str], shown: int = 4) -> str:
    """A few names, and how many more there are."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def privilege_problems(connection: Connection, app_role: str) -> list[str]:
    """What ``app_role`` can do on this database beyond (or short of) :func:`table_privileges`; ``[]``: exactly that.

    Counts everything that gives a role a privilege: its own grants, ``PUBLIC``'s, those of the
    roles it is a member of, owning a table (or belonging to its owner) and being a superuser.
    Each problem is a phrase about the role: ``may UPDATE audit_entries``.
    """
    superuser = connection.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = :role"), {"role": app_role})
    found = superuser.first()
    if found is None:
        return ["does not exist"]
    if found[0]:
        return ["is a superuser, which bypasses every privilege (make the app role with CREATE ROLE NAME LOGIN)"]
    problems = []
    wanted = table_privileges()
    owned = list(
        connection.execute(
            text(
                "SELECT c.relname FROM pg_class c WHERE c.oid = ANY(CAST(:tables AS regclass[])) "
                "AND pg_has_role(:role, c.relowner, 'MEMBER') ORDER BY c.relname"
            ),
            {"tables": sorted(wanted), "role": app_role},
        ).scalars()
    )
    if owned:
        problems.append(
            f"owns (or is a member of the owner of) {len(owned)} tables ({_some(owned)}), so it can drop and alter them"
        )
    usage, create = connection.execute(
        text("SELECT has_schema_privilege(:role, :schema, 'USAGE'), has_schema_privilege(:role, :schema, 'CREATE')"),
        {"role": app_role, "schema": SCHEMA},
    ).one()
    if not usage:
        problems.append(f"may not use the schema {SCHEMA}")
    if create:
        problems.append(f"may create tables in the schema {SCHEMA}")
    # Column privileges count too: UPDATE on one column of audit_entries is an UPDATE.
    rows = connection.execute(
        text(
            "SELECT t.name, p.privilege, CASE WHEN p.privilege IN ('SELECT', 'INSERT', 'UPDATE', 'REFERENCES') "
            "THEN has_any_column_privilege(:role, CAST(t.name AS regclass), p.privilege) "
            "ELSE has_table_privilege(:role, CAST(t.name AS regclass), p.privilege) END "
            "FROM unnest(CAST(:tables AS text[])) AS t(name) "
            "CROSS JOIN unnest(CAST(:privileges AS text[])) AS p(privilege)"
        ),
        {"role": app_role, "tables": sorted(wanted), "privileges": list(CHECKED_PRIVILEGES)},
    )
    differences: dict[tuple[bool, str], list[str]] = {}
    for table, privilege, has in rows:
        if bool(has) != (privilege in wanted[table]):
            differences.setdefault((bool(has), privilege), []).append(table)
    for (has, privilege), tables in sorted(differences.items(), key=lambda item: (not item[0][0], item[0][1])):
        problems.append(f"{'may' if has else 'may not'} {privilege} {_some(sorted(tables))}")
    unusable = list(
        connection.execute(
            text(
                "SELECT s.name FROM unnest(CAST(:sequences AS text[])) AS s(name) "
                "WHERE NOT has_sequence_privilege(:role, CAST(s.name AS regclass), 'USAGE') ORDER BY s.name"
            ),
            {"role": app_role, "sequences": sequence_names()},
        ).scalars()
    )
    if unusable:
        problems.append(f"may not use the counters {_some(unusable)}")
    return problems
