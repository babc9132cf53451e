"""A clinic's PostgreSQL server as docs/clinic-server.md sets it up: two roles, least privilege, TLS.

On the suite's real server (``postgres_url``: a fresh database at the schema's head; its user
``stampside`` is a superuser), with roles made for the test (role names are the cluster's, so
each carries the process id and a counter, and is dropped at the end):

* the SQL ``stampside db roles`` prints names every table and counter the migrations make;
* a chair connecting as the app role (grants from that SQL, through ``psql`` as the page shows)
  runs the clinic: ``demo-data``, ``practitioner add`` with a PIN, ``link record`` from a
  simulator (every stamp stored once), a correction and a security event, and ``audit verify``
  passes;
* the app role cannot drop, alter, truncate or create a table, nor update or delete an audit
  entry, a stamp, a signature or the schema revision, nor reset a counter: the server refuses
  each (psycopg's ``InsufficientPrivilege``) and the trail still verifies;
* the page's whole setup: an owner role owns the database and upgrades it; a chair whose
  Stampside is newer than the database is told in one line to run ``stampside db upgrade`` as
  the owner, and changes nothing; after the owner's upgrade and ``db roles --apply`` the chair
  works; a backup restored into a new database as the owner verifies as the app role;
* ``db roles --apply`` refuses a superuser, a table's owner, a missing role, and a role that
  ``PUBLIC`` gives more, and then changes nothing; ``--owner-role`` gives the tables away.

Then TLS, on a throw-away cluster of its own (``scripts/postgres up`` with ``ssl = on`` and a
certificate for ``localhost`` from a CA made with ``openssl``): ``stampside db current`` with
``sslmode=verify-full&sslrootcert=ca.crt`` connects by ``localhost`` over TLS, a backup goes
through it, and another CA's certificate or the host ``127.0.0.1`` (a name the certificate does
not hold) is one line, exit 2.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import ProgrammingError

from stampside.app.cli.main import main
from stampside.app.storage import StorageError, open_database
from stampside.app.storage.corrections import correct_patient
from stampside.app.storage.grants import privilege_problems, script, sequence_names, table_privileges
from stampside.app.storage.migrate import alembic_config, upgrade_to
from stampside.app.storage.patients import NewPatient, find_patient
from stampside.app.storage.schema_version import HEAD_REVISION, stored_revision
from stampside.app.storage.security_events import log_security_event
from tests.devicelink.processes import STAMPSIDE, SimProcess, json_lines, stampside
from tests.postgres_server import run_script

pytestmark = [pytest.mark.e2e, pytest.mark.postgresql]

_ROLES = itertools.count(1)


def as_user(url: str, user: str, database: str | None = None) -> str:
    """``url`` with another user (and database), as SQLAlchemy takes it."""
    parsed = make_url(url).set(username=user)
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def libpq(url: str) -> str:
    """A SQLAlchemy URL as psql and pg_restore take it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def autocommit(url: str) -> Engine:
    return create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1)


def execute(url: str, *statements: str) -> None:
    engine = autocommit(url)
    try:
        with engine.connect() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


@contextmanager
def clinic_roles(admin_url: str, *kinds: str) -> Iterator[list[str]]:
    """New LOGIN roles (not superusers) named ``KIND_PID_N``; at the end their objects and grants
    in ``admin_url``'s database go (REASSIGN OWNED, DROP OWNED) and so do they."""
    names = [f"{kind}_{os.getpid()}_{next(_ROLES)}" for kind in kinds]
    execute(admin_url, *(f'CREATE ROLE "{name}" LOGIN' for name in names))
    try:
        yield names
    finally:
        owned = ", ".join(f'"{name}"' for name in names)
        execute(
            admin_url,
            f"REASSIGN OWNED BY {owned} TO CURRENT_USER",
            f"DROP OWNED BY {owned}",
            *(f'DROP ROLE "{name}"' for name in names),
        )


def run(*args: str, input: str | None = None) -> tuple[int, str]:
    """``stampside ARGS`` in this process: exit code and output."""
    done = CliRunner().invoke(main, list(args), input=input)
    return done.exit_code, done.output


def one_error_line(code: int, out: str) -> str:
    assert code == 2, out
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), out
    assert "Traceback" not in out
    return lines[0]


def apply_with_psql(url: str, app_role: str) -> None:
    """What the page shows: the SQL ``stampside db roles`` prints, run by ``psql`` (one transaction)."""
    printed = stampside("db", "roles", "--app-role", app_role)
    assert printed.returncode == 0, printed.stderr
    psql = shutil.which("psql")
    assert psql is not None, "psql comes with the server's packages (postgresql-client)"
    done = subprocess.run(
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", libpq(url), "-f", "-"],
        input=printed.stdout,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


# -- the SQL and the schema -----------------------------------------------------------------------


def test_the_printed_grants_name_every_table_and_counter_the_migrations_make(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        found = connection.execute(
            text(
                "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S')"
            )
        ).all()
    engine.dispose()
    assert sorted(name for name, kind in found if kind == "r") == sorted(table_privileges())
    assert sorted(name for name, kind in found if kind == "S") == sequence_names()
    assert table_privileges()["audit_entries"] == ("SELECT", "INSERT")
    assert table_privileges()["alembic_version"] == ("SELECT",)
    code, out = run("db", "roles", "--app-role", "clinic_app")
    assert code == 0 and out == script("clinic_app")
    assert out.count("BEGIN;") == 1 and out.rstrip().endswith("COMMIT;")
    for table in table_privileges():
        assert f'"{table}"' in out
    for forbidden in ("TRUNCATE", "REFERENCES", "TRIGGER", "ALL PRIVILEGES", "GRANT ALL"):
        assert forbidden not in out.replace("REVOKE ALL", "")


# -- the app role at work ---------------------------------------------------------------------------


def test_a_chair_as_the_app_role_runs_the_clinic_and_its_trail_verifies(postgres_url: str, tmp_path: Path) -> None:
    with clinic_roles(postgres_url, "app") as (app,):
        apply_with_psql(postgres_url, app)
        admin = create_engine(postgres_url)
        with admin.connect() as connection:
            assert privilege_problems(connection, app) == []
        admin.dispose()
        chair = as_user(postgres_url, app)

        filled = stampside("demo-data", "--db", chair, timeout=300)
        assert filled.returncode == 0, filled.stderr
        added = subprocess.run(
            [STAMPSIDE, "practitioner", "add", "Dr Chair", "--db", chair, "--pin-stdin"],
            input="7391\n", capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr

        link, truth = tmp_path / "stamp", tmp_path / "truth.jsonl"
        sim = SimProcess(
            "--pty", str(link), "--serial", "SS-CHAIR2", "--stamps", "300", "--rate", "400", "--seed", "12",
            "--truth", str(truth), "--no-state",
        )  # fmt: skip
        try:
            recorded = stampside("link", "record", str(link), "--db", chair, "--idle-exit", "2", timeout=180)
        finally:
            sim_log = sim.stop()
        assert recorded.returncode == 0, recorded.stderr + sim_log
        exported = stampside("export", "--db", chair, "--format", "jsonl", "--device", "SS-CHAIR2")
        assert exported.returncode == 0, exported.stderr
        keys = ("boot", "seq", "force", "contact_ms", "zone")
        stored = sorted(tuple(row[k] for k in keys) for row in json_lines(exported.stdout))
        expected = sorted(tuple(row[k] for k in keys) for row in map(json.loads, truth.read_text().splitlines()))
        assert len(expected) == 300 and stored == expected

        database = open_database(chair)
        try:
            with database.Session.begin() as session:
                patient = find_patient(session, "DEMO-001")
                assert patient is not None
                corrected = NewPatient(
                    code=patient.code, name="Patient One Corrected", birth_year=patient.birth_year,
                    norwood_grade=patient.norwood_grade,
                )  # fmt: skip
                correct_patient(
                    session, patient.id, corrected, reason="typed into the wrong field", by="Dr Chair",
                    now=datetime.now(UTC),
                )  # fmt: skip
                log_security_event(session, "pin_reset", at=datetime.now(UTC), detail="by the chair's role")
        finally:
            database.close()

        verified = stampside("audit", "verify", "--db", chair, timeout=120)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert verified.stdout.startswith("audit trail verified")


#: What a chair's role must not do, each refused by the server for a privilege it lacks.
REFUSED = (
    "DROP TABLE patients",
    "DROP TABLE audit_entries",
    "ALTER TABLE patients ADD COLUMN note text",
    "ALTER TABLE audit_entries DISABLE TRIGGER ALL",
    "TRUNCATE patients",
    "TRUNCATE audit_entries",
    "TRUNCATE stamp_events",
    "UPDATE audit_entries SET actor = 'someone else'",
    "DELETE FROM audit_entries",
    "UPDATE stamp_events SET force_dn = 0",
    "DELETE FROM stamp_events",
    "UPDATE signatures SET meaning = 'approved'",
    "DELETE FROM security_events",
    "DELETE FROM corrections",
    "UPDATE alembic_version SET version_num = '0001'",
    "CREATE TABLE shadow (id integer)",
    "SELECT setval('patients_id_seq', 1)",
    "ALTER SEQUENCE patients_id_seq RESTART",
    "DROP SCHEMA public CASCADE",
)


def test_the_app_role_cannot_change_the_schema_the_trail_or_the_stamps(postgres_url: str) -> None:
    with clinic_roles(postgres_url, "app") as (app,):
        code, out = run("db", "roles", "--app-role", app, "--apply", "--db", postgres_url)
        assert code == 0, out
        assert out.strip().endswith("it owns no table and cannot drop, alter, truncate or create one (checked)")
        chair = as_user(postgres_url, app)
        code, out = run("practitioner", "add", "Dr Chair", "--db", chair, "--no-pin")
        assert code == 0, out
        engine = create_engine(chair)
        entries_before = _count(engine, "audit_entries")
        assert entries_before > 0
        not_refused = []
        try:
            for statement in REFUSED:
                with engine.connect() as connection:
                    try:
                        connection.execute(text(statement))
                    except ProgrammingError as exc:
                        if not isinstance(exc.orig, psycopg.errors.InsufficientPrivilege):
                            not_refused.append(f"{statement}: {exc.orig!r}")
                    else:
                        not_refused.append(f"{statement}: it ran")
                    connection.rollback()
            assert not_refused == []
            assert _count(engine, "audit_entries") == entries_before
        finally:
            engine.dispose()
        code, out = run("audit", "verify", "--db", chair)
        assert code == 0, out


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


# -- the page's setup, an upgrade and a restore -------------------------------------------------------


def test_the_owner_upgrades_and_a_newer_chair_is_told_to_ask_for_it(postgres_url: str, tmp_path: Path) -> None:
    previous = ScriptDirectory.from_config(alembic_config()).get_revision(HEAD_REVISION).down_revision
    assert isinstance(previous, str)
    with ExitStack() as stack:
        owner, app = stack.enter_context(clinic_roles(postgres_url, "owner", "app"))
        clinic, restored = f"clinic_{owner}", f"restored_{owner}"
        admin = postgres_url
        for name in (clinic, restored):  # the page's step 2, as the superuser
            execute(admin, f'CREATE DATABASE "{name}" OWNER "{owner}"')
            stack.callback(execute, admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            execute(
                admin, f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC', f'GRANT CONNECT ON DATABASE "{name}" TO "{app}"'
            )
        owner_url, chair = as_user(postgres_url, owner, clinic), as_user(postgres_url, app, clinic)

        # The database as an earlier Stampside left it: the owner migrated it, the chairs may read its revision.
        earlier = open_database(owner_url, migrate=False)
        upgrade_to(earlier.engine, previous)
        earlier.close()
        execute(owner_url, f'GRANT USAGE ON SCHEMA public TO "{app}"', f'GRANT SELECT ON alembic_version TO "{app}"')

        code, out = run("db", "current", "--db", chair)
        assert code == 1 and f"revision {previous}; newest {HEAD_REVISION}" in out
        line = one_error_line(*run("db", "upgrade", "--db", chair))
        assert f"is at schema revision {previous} and this Stampside needs {HEAD_REVISION}" in line
        assert f"the role '{app}' may not change the schema" in line
        assert "run 'stampside db upgrade' as the owner role" in line and "nothing was changed" in line
        with pytest.raises(StorageError, match="run 'stampside db upgrade' as the owner role"):
            open_database(chair)
        line = one_error_line(*run("db", "roles", "--app-role", app, "--apply", "--db", owner_url))
        assert f"is at schema revision {previous}, not {HEAD_REVISION}: run 'stampside db upgrade'" in line
        engine = create_engine(owner_url)
        assert stored_revision(engine) == previous
        engine.dispose()

        code, out = run("db", "upgrade", "--db", owner_url)
        assert code == 0 and f"upgraded from {previous} to {HEAD_REVISION}" in out
        # Upgraded, not yet granted: the chair is told what to run.
        line = one_error_line(*run("practitioner", "add", "Dr Chair", "--db", chair, "--no-pin"))
        assert f"the role '{app}' may not do this" in line and "permission denied for table" in line
        assert "'stampside db roles --app-role NAME --apply'" in line

        code, out = run("db", "roles", "--app-role", app, "--apply", "--db", owner_url)
        assert code == 0, out
        code, out = run("practitioner", "add", "Dr Chair", "--db", chair, "--no-pin")
        assert code == 0, out
        code, out = run("audit", "verify", "--db", chair)
        assert code == 0, out

        # Backups are the owner's; the restore into a new database of the owner's verifies as the chair.
        line = one_error_line(*run("db", "backup", str(tmp_path / "app.dump"), "--db", chair))
        assert "permission denied" in line and "back up as the owner role" in line
        dump = tmp_path / "clinic.dump"
        code, out = run("db", "backup", str(dump), "--db", owner_url)
        assert code == 0, out
        restored_owner = as_user(postgres_url, owner, restored)
        done = subprocess.run(
            ["pg_restore", "--no-owner", "--single-transaction", "--exit-on-error", "--dbname",
             libpq(restored_owner), str(dump)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        code, out = run("db", "roles", "--app-role", app, "--apply", "--db", restored_owner)
        assert code == 0, out
        code, out = run("audit", "verify", "--db", as_user(postgres_url, app, restored))
        assert code == 0 and "audit trail verified" in out, out


def test_roles_apply_refuses_what_would_not_be_least_privilege_and_changes_nothing(postgres_url: str) -> None:
    superuser = make_url(postgres_url).username or "stampside"
    line = one_error_line(*run("db", "roles", "--app-role", superuser, "--apply", "--db", postgres_url))
    assert f"the role '{superuser}' is a superuser" in line and "nothing was changed" in line
    missing = f"nobody_{os.getpid()}_{next(_ROLES)}"
    line = one_error_line(*run("db", "roles", "--app-role", missing, "--apply", "--db", postgres_url))
    assert line.startswith(f"Error: there is no role '{missing}' on ")

    with clinic_roles(postgres_url, "owner", "app") as (owner, app):
        # PUBLIC given more than the app role may have: refused, and the app role got nothing.
        execute(postgres_url, "GRANT UPDATE (actor) ON audit_entries TO PUBLIC", "GRANT TRUNCATE ON patients TO PUBLIC")
        try:
            line = one_error_line(*run("db", "roles", "--app-role", app, "--apply", "--db", postgres_url))
        finally:
            execute(
                postgres_url,
                "REVOKE UPDATE (actor) ON audit_entries FROM PUBLIC",
                "REVOKE TRUNCATE ON patients FROM PUBLIC",
            )
        assert f"the role '{app}' may TRUNCATE patients; may UPDATE audit_entries; nothing was changed" in line
        engine = create_engine(postgres_url)
        with engine.connect() as connection:
            granted = connection.execute(text("SELECT has_table_privilege(:role, 'patients', 'INSERT')"), {"role": app})
            assert granted.scalar() is False

        # --owner-role: the superuser gives the tables to the owner, who then grants by itself.
        code, out = run("db", "roles", "--owner-role", owner, "--app-role", app, "--apply", "--db", postgres_url)
        assert code == 0, out
        assert f"every table belongs to the role '{owner}'" in out
        with engine.connect() as connection:
            owners = connection.execute(
                text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
            assert list(owners) == [owner]
        engine.dispose()
        owner_url = as_user(postgres_url, owner)
        code, out = run("db", "roles", "--app-role", app, "--apply", "--db", owner_url)
        assert code == 0, out
        line = one_error_line(*run("db", "roles", "--app-role", owner, "--apply", "--db", owner_url))
        assert f"the role '{owner}' owns (or is a member of the owner of) {len(table_privileges())} tables" in line
        # The app role granting itself more: not the owner, so nothing is granted.
        line = one_error_line(*run("db", "roles", "--app-role", app, "--apply", "--db", as_user(postgres_url, app)))
        assert f"the role '{app}' may not grant privileges" in line
        code, out = run("audit", "verify", "--db", as_user(postgres_url, app))
        assert code == 0, out


# -- TLS: sslmode=verify-full on a cluster of its own -----------------------------------------------------


def openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def make_ca(folder: Path, name: str) -> Path:
    """A CA (key and self-signed certificate), as docs/clinic-server.md makes the clinic's."""
    folder.mkdir(parents=True, exist_ok=True)
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650",
        "-subj", f"/CN={name}", "-keyout", "ca.key", "-out", "ca.crt", cwd=folder,
    )  # fmt: skip
    return folder / "ca.crt"


def make_server_certificate(ca_folder: Path, host: str) -> tuple[Path, Path]:
    """A server key and a certificate for ``host`` signed by the CA in ``ca_folder`` (the page's commands)."""
    openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", f"/CN={host}",
        "-keyout", "server.key", "-out", "server.csr", cwd=ca_folder,
    )  # fmt: skip
    (ca_folder / "server.ext").write_text(
        f"subjectAltName = DNS:{host}\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature\n"
        "extendedKeyUsage = serverAuth\n"
    )
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "825",
        "-extfile", "server.ext", "-out", "server.crt", cwd=ca_folder,
    )  # fmt: skip
    return ca_folder / "server.crt", ca_folder / "server.key"


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """A throw-away cluster with TLS on: (its URL, the clinic CA's certificate, another CA's)."""
    assert shutil.which("openssl"), "openssl comes with Debian's PostgreSQL packages (ssl-cert)"
    folder = tmp_path_factory.mktemp("tls")
    clinic_ca = make_ca(folder / "clinic-ca", "Stampside test clinic CA")
    other_ca = make_ca(folder / "other-ca", "Some other CA")
    certificate, key = make_server_certificate(folder / "clinic-ca", "localhost")
    # Under the temporary folder's root: as root the server runs as 'postgres', which must reach it.
    data = Path(os.environ.get("TMPDIR", "/tmp")) / f"stampside-pg-tls-{os.getpid()}"
    started = run_script("up", data)
    assert started.returncode == 0, started.stderr
    try:
        url = started.stdout.strip().splitlines()[-1]
        # The key belongs to the server's account (the data folder's owner) and is readable by it only.
        owner = data.stat()
        for source, mode in ((certificate, 0o644), (key, 0o600)):
            placed = data / f"clinic-{source.name}"
            shutil.copyfile(source, placed)
            os.chown(placed, owner.st_uid, owner.st_gid)
            os.chmod(placed, mode)
        execute(
            url,
            "ALTER SYSTEM SET ssl = on",
            f"ALTER SYSTEM SET ssl_cert_file = '{data / 'clinic-server.crt'}'",
            f"ALTER SYSTEM SET ssl_key_file = '{data / 'clinic-server.key'}'",
            "SELECT pg_reload_conf()",
        )
        _wait_for_tls(url, data)
        yield url, clinic_ca, other_ca
    finally:
        stopped = run_script("down", data)
        assert stopped.returncode == 0, stopped.stderr
        assert not data.exists()


def _wait_for_tls(url: str, data: Path) -> None:
    """The server reads its configuration again when the postmaster gets to the reload signal: until then
    new connections come in without TLS. Wait until one comes in with it (at most half a minute)."""
    prefer = make_url(url).update_query_dict({"sslmode": "prefer"})
    for _ in range(600):
        engine = create_engine(prefer, pool_size=1)
        try:
            with engine.connect() as connection:
                if connection.execute(text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).scalar():
                    return
        finally:
            engine.dispose()
        time.sleep(0.05)
    log = (data / "server.log").read_text(errors="replace")[-2000:]
    raise AssertionError(f"the server did not turn TLS on:\n{log}")


def verify_full(url: str, host: str, root_certificate: Path) -> str:
    parsed = make_url(url).set(host=host)
    parsed = parsed.update_query_dict({"sslmode": "verify-full", "sslrootcert": str(root_certificate)})
    return parsed.render_as_string(hide_password=False)


def test_verify_full_connects_by_the_certificates_name_over_tls(
    tls_server: tuple[str, Path, Path], tmp_path: Path
) -> None:
    url, clinic_ca, _ = tls_server
    secure = verify_full(url, "localhost", clinic_ca)
    assert "sslmode=verify-full" in secure and "sslrootcert=" in secure
    upgraded = stampside("db", "upgrade", "--db", secure)
    assert upgraded.returncode == 0, upgraded.stderr
    current = stampside("db", "current", "--db", secure)
    assert current.returncode == 0, current.stdout + current.stderr
    assert f"revision {HEAD_REVISION}; newest {HEAD_REVISION}" in current.stdout
    engine = create_engine(secure)
    with engine.connect() as connection:
        ssl, version = connection.execute(
            text("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        ).one()
    engine.dispose()
    assert ssl is True and version.startswith("TLS")
    backup = tmp_path / "clinic.dump"
    made = stampside("db", "backup", str(backup), "--db", secure, timeout=300)  # pg_dump through the same URL
    assert made.returncode == 0, made.stderr
    assert backup.stat().st_size > 0


def test_another_cas_certificate_or_another_host_name_is_one_line(tls_server: tuple[str, Path, Path]) -> None:
    url, clinic_ca, other_ca = tls_server
    wrong_ca = stampside("db", "current", "--db", verify_full(url, "localhost", other_ca))
    line = one_error_line(wrong_ca.returncode, wrong_ca.stdout + wrong_ca.stderr)
    assert line.startswith("Error: the TLS connection to postgresql+psycopg://stampside@localhost:")
    assert "certificate verify failed" in line and "stampside docs clinic-server" in line
    wrong_name = stampside("db", "current", "--db", verify_full(url, "127.0.0.1", clinic_ca))
    line = one_error_line(wrong_name.returncode, wrong_name.stdout + wrong_name.stderr)
    assert line.startswith("Error: the TLS connection to postgresql+psycopg://stampside@127.0.0.1:")
    assert 'does not match host name "127.0.0.1"' in line
