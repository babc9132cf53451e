"""``stampside app`` hands the app its settings file unchecked: the app checks it in its worker, after
the first paint, and then uses its database, time zone and foot switch keys; a wrong value ends
the app with exit code 2 and the one line the CLI prints."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from stampside.app.settings import SettingsFile, read_settings_file
from stampside.app.tui.app import AppConfig, create_app
from stampside.app.tui.screens.sign_in import SignInScreen

from .session_helpers import SIZE, wait_for


def settings_file(tmp_path: Path, text: str) -> SettingsFile:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return read_settings_file(path)


async def test_the_app_opens_the_settings_database_in_its_zone_with_its_foot_switch(tmp_path: Path) -> None:
    given = settings_file(
        tmp_path, 'db = "clinic.db"\ntimezone = "Asia/Tokyo"\n[keys]\nadvance = ["f13"]\nnext_zone = ["f14"]\n'
    )
    app = create_app(AppConfig(settings=given))
    assert app.settings.keys.advance == () and app.tz is None, "nothing checked before the first paint"
    async with app.run_test(size=SIZE) as pilot:
        # The sign-in first (a new clinic: nobody yet), then the settings' database opened behind it.
        await wait_for(pilot, lambda: isinstance(app.screen, SignInScreen) and app.database is not None)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert app.database is not None and app.database.url.database == str(tmp_path / "clinic.db")
        assert app.tz == ZoneInfo("Asia/Tokyo") and app.settings.keys.advance == ("f13",)
        assert {"f13", "f14"} <= set(app._bindings.key_to_bindings), "the foot switch is bound"
        assert not {"f13", "f14"} & set(app.active_bindings), "and does nothing until someone signs in"
    assert app.settings_problem is None


async def test_the_sign_in_shown_before_the_settings_are_checked_locks_after_their_idle_minutes(
    tmp_path: Path,
) -> None:
    """At start-up the sign-in comes before the settings are checked; the idle lock it starts must
    still use the settings' idle_lock_minutes, not the default."""
    given = settings_file(tmp_path, 'db = "clinic.db"\nidle_lock_minutes = 3\n')
    app = create_app(AppConfig(settings=given))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SignInScreen) and app.database is not None)
        await pilot.app.workers.wait_for_complete()
        assert app.settings.idle_lock_minutes == 3
        assert app.signed_in.idle.after_s == 3 * 60


async def test_a_wrong_setting_ends_the_app_with_its_line_and_exit_code_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = settings_file(tmp_path, 'db = "clinic.db"\n')
    monkeypatch.setenv("STAMPSIDE_TIMEZONE", "Mars/Olympus")
    app = create_app(AppConfig(settings=given))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 2
    assert app.settings_problem is not None
    assert app.settings_problem.startswith('$STAMPSIDE_TIMEZONE: timezone: "Mars/Olympus" is not a time zone')
    assert not (tmp_path / "clinic.db").exists(), "no database opened with wrong settings"
