"""`stampside practitioner list|add|set-pin|events`: PINs set from the command line, never shown or stored in clear."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from stampside.app.cli.main import main
from stampside.app.storage import open_database
from stampside.app.storage.pins import check_pin


def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def test_add_asks_the_pin_twice_hidden_and_list_says_who_has_one(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'clinic.db'}"
    code, out, err = invoke("practitioner", "add", "Dr. Ana Ruiz", "--db", db, input="7391\n7391\n")
    assert code == 0, err
    assert "added Dr. Ana Ruiz with a PIN" in err and "7391" not in out + err, "the PIN is never echoed"
    assert invoke("practitioner", "add", "Marc  Vidal", "--no-pin", "--db", db)[0] == 0
    code, out, _ = invoke("practitioner", "list", "--db", db)
    assert code == 0
    assert out.splitlines() == [
        "Dr. Ana Ruiz\tPIN set",
        "Marc Vidal\tno PIN yet (chosen at the first sign-in)",
    ]
    database = open_database(db)
    try:
        with database.Session.begin() as s:
            assert check_pin(s, 1, "7391", now=datetime.now(UTC)).ok
    finally:
        database.close()


def test_a_pin_that_will_not_do_adds_nobody(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'clinic.db'}"
    code, _, err = invoke("practitioner", "add", "Dr. Ana Ruiz", "--db", db, input="7391\n7319\n")
    assert code == 2 and "the two PINs differ" in err and "nobody was added" in err and "Traceback" not in err
    code, _, err = invoke("practitioner", "add", "Dr. Ana Ruiz", "--pin-stdin", "--db", db, input="12\n")
    assert code == 2 and "too short" in err
    assert invoke("practitioner", "list", "--db", db)[1] == ""


def test_set_pin_replaces_a_pin_lifts_a_lockout_and_is_a_security_event(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'clinic.db'}"
    invoke("practitioner", "add", "Dr. Ana Ruiz", "--pin-stdin", "--db", db, input="7391\n")
    database = open_database(db)
    try:
        for _ in range(5):
            with database.Session.begin() as s:
                check_pin(s, 1, "0000", now=datetime.now(UTC))
    finally:
        database.close()
    assert "locked out until" in invoke("practitioner", "list", "--db", db)[1]
    code, _, err = invoke("practitioner", "set-pin", "dr. ana ruiz", "--pin-stdin", "--db", db, input="5522\n")
    assert code == 0 and "new PIN set for Dr. Ana Ruiz" in err
    assert invoke("practitioner", "list", "--db", db)[1] == "Dr. Ana Ruiz\tPIN set\n"
    code, out, _ = invoke("practitioner", "events", "--db", db)
    kinds = [line.split("\t")[1] for line in out.splitlines()]
    assert kinds == ["pin_set", "pin_lockout", "pin_reset"]
    assert "7391" not in out and "5522" not in out
    code, _, err = invoke("practitioner", "set-pin", "Nobody", "--pin-stdin", "--db", db, input="5522\n")
    assert code == 2 and "no practitioner named 'Nobody'" in err and "Dr. Ana Ruiz" in err
