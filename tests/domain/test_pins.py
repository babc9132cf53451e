"""The PIN rules: a new PIN typed twice, wrong PINs counted, five in a row lock the practitioner out for a while."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stampside.app.domain.pins import LockoutPolicy, PinRefused, check_new_pin, minutes_text

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("pin", "again", "says"),
    [
        ("", "", "type a PIN"),
        ("    ", "    ", "type a PIN"),
        ("123", "123", "too short"),
        ("x" * 129, "x" * 129, "too long"),
        ("1234", "1243", "differ"),
    ],
)
def test_a_new_pin_that_will_not_do_says_why(pin: str, again: str, says: str) -> None:
    with pytest.raises(PinRefused, match=says):
        check_new_pin(pin, again)


def test_a_pin_or_a_passphrase_is_kept_as_typed() -> None:
    assert check_new_pin("1234", "1234") == "1234"
    assert check_new_pin(" correct horse ", " correct horse ") == " correct horse "


def test_four_wrong_pins_count_down_and_the_fifth_locks_out_for_five_minutes() -> None:
    policy = LockoutPolicy()
    failures, until = 0, None
    said = []
    for _ in range(5):
        attempt = policy.attempt(matches=False, failures=failures, locked_until=until, now=T0)
        failures, until = attempt.failures, attempt.locked_until
        said.append((attempt.message, attempt.locked_now))
    assert said[0] == ("wrong PIN: 4 tries left", False)
    assert said[3] == ("wrong PIN: 1 try left", False)
    assert said[4] == ("wrong PIN 5 times: locked for 5 minutes", True)
    assert until == T0 + timedelta(minutes=5)


def test_while_locked_out_even_the_right_pin_is_refused_and_nothing_is_counted() -> None:
    policy = LockoutPolicy()
    until = T0 + timedelta(minutes=5)
    attempt = policy.attempt(matches=True, failures=5, locked_until=until, now=T0 + timedelta(minutes=2))
    assert not attempt.accepted and not attempt.locked_now
    assert (attempt.failures, attempt.locked_until) == (5, until)
    assert attempt.message == "too many wrong PINs: locked for 3 minutes more"


def test_after_the_lockout_a_right_pin_signs_in_and_a_wrong_one_starts_a_new_count() -> None:
    policy = LockoutPolicy()
    until = T0 + timedelta(minutes=5)
    later = until + timedelta(seconds=1)
    assert policy.attempt(matches=True, failures=5, locked_until=until, now=later).accepted
    wrong = policy.attempt(matches=False, failures=5, locked_until=until, now=later)
    assert (wrong.failures, wrong.locked_until, wrong.message) == (1, None, "wrong PIN: 4 tries left")


def test_a_right_pin_clears_the_count() -> None:
    attempt = LockoutPolicy().attempt(matches=True, failures=3, locked_until=None, now=T0)
    assert attempt.accepted and (attempt.failures, attempt.locked_until) == (0, None)


def test_a_clinic_can_have_a_stricter_rule() -> None:
    policy = LockoutPolicy(max_failures=3, lock_for=timedelta(minutes=15))
    attempt = policy.attempt(matches=False, failures=2, locked_until=None, now=T0)
    assert attempt.locked_now and attempt.locked_until == T0 + timedelta(minutes=15)
    assert attempt.message == "wrong PIN 3 times: locked for 15 minutes"


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "less than a minute"), (59, "less than a minute"), (60, "1 minute"), (61, "2 minutes")]
)
def test_how_long_a_lockout_lasts_is_rounded_up_to_minutes(seconds: int, text: str) -> None:
    assert minutes_text(timedelta(seconds=seconds)) == text
