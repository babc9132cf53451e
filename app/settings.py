"""The clinic's settings: who is on the aftercare card, and which keys a foot switch sends.

A TOML file, read once when the app starts: ``--settings PATH``, else ``$STAMPSIDE_SETTINGS``,
else ``settings.toml`` in the platform's user config folder (``stampside settings path`` prints
it). A missing file means the defaults; a file that does not parse or holds a wrong value is
refused with the file, the field and what is expected (:class:`SettingsError`), never half read.
Plain dataclasses checked by hand: the file is read before the app's first paint, which a
validation library's import would delay.

Example (``stampside settings example`` prints it)::

    [clinic]
    name = "Clinic Name"
    phone = "+44 20 7946 0000"

    [keys]
    # A USB foot switch sends a key; name it here (Textual key names: "f13", "pagedown", "space").
    advance = ["f13"]
    next_zone = ["f14"]
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from app.storage.location import APP_NAME

__all__ = [
    "EXAMPLE",
    "SETTINGS_ENV_VAR",
    "ClinicInfo",
    "KeyMap",
    "Settings",
    "SettingsError",
    "default_settings_path",
    "load_settings",
    "resolve_settings_path",
]

#: The environment variable that names the settings file when ``--settings`` is not given.
SETTINGS_ENV_VAR = "STAMPSIDE_SETTINGS"
SETTINGS_FILE_NAME = "settings.toml"

#: Keys the app already gives a meaning on some screen: a foot switch must not send one of them.
RESERVED_KEYS = frozenset(
    {
        "q",
        "s",
        "n",
        "a",
        "c",
        "t",
        "f",
        "m",
        "v",
        "l",
        "r",
        "y",
        "p",
        "1",
        "2",
        "3",
        "4",
        "5",
        "escape",
        "tab",
        "ctrl+c",
        "ctrl+q",
    }
)
_KEY = re.compile(r"^[a-z0-9_+]{1,32}$")
TEXT_MAX = 120

EXAMPLE = """[clinic]
name = "Clinic Name"
phone = "+44 20 7946 0000"

[keys]
# A USB foot switch sends a key; name it here (Textual key names: "f13", "pagedown", "space").
advance = ["f13"]
next_zone = ["f14"]
"""


class SettingsError(Exception):
    """The settings file cannot be used; the message names the file, the field and what is expected."""


@dataclass(frozen=True)
class ClinicInfo:
    """Printed on the aftercare card: who to call."""

    name: str = ""
    phone: str = ""


@dataclass(frozen=True)
class KeyMap:
    """Extra keys (a foot switch) for the chairside flow's two most frequent actions."""

    #: Does the step's main action and moves on, as ``enter`` does.
    advance: tuple[str, ...] = ()
    #: On the stamping screen: the next zone becomes the active one.
    next_zone: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    """Everything in the settings file."""

    clinic: ClinicInfo = field(default_factory=ClinicInfo)
    keys: KeyMap = field(default_factory=KeyMap)
    #: Where these came from (``None``: defaults, no file).
    source: Path | None = None


def _table(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ValueError(f"{name}: a table ([{name}]) is expected")
    return value


def _unknown(table: dict[str, Any], known: type, prefix: str) -> None:
    names = {f.name for f in fields(known)} - {"source"}
    extra = sorted(set(table) - names)
    if extra:
        raise ValueError(f"{prefix}{extra[0]}: not a setting; known: {', '.join(sorted(names))}")


def _text(table: dict[str, Any], name: str, prefix: str) -> str:
    value = table.get(name, "")
    if not isinstance(value, str):
        raise ValueError(f"{prefix}{name}: text in quotes is expected")
    value = value.strip()
    if len(value) > TEXT_MAX:
        raise ValueError(f"{prefix}{name}: at most {TEXT_MAX} characters")
    return value


def _keys(table: dict[str, Any], name: str) -> tuple[str, ...]:
    value = table.get(name, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(key, str) for key in value):
        raise ValueError(f'keys.{name}: a list of key names is expected, e.g. ["f13"]')
    keys = tuple(key.strip().lower() for key in value)
    for key in keys:
        if not _KEY.match(key):
            raise ValueError(f'keys.{name}: "{key}" is not a key name (e.g. "f13", "pagedown", "space", "ctrl+j")')
        if key in RESERVED_KEYS:
            raise ValueError(f'keys.{name}: "{key}" is already used by the app; pick a key no screen uses, e.g. f13')
    return keys


def parse_settings(raw: dict[str, Any]) -> Settings:
    """Settings from a parsed TOML document; :class:`ValueError` names the field and what is expected."""
    _unknown(raw, Settings, "")
    clinic = _table(raw, "clinic")
    _unknown(clinic, ClinicInfo, "clinic.")
    keys = _table(raw, "keys")
    _unknown(keys, KeyMap, "keys.")
    advance, next_zone = _keys(keys, "advance"), _keys(keys, "next_zone")
    both = sorted(set(advance) & set(next_zone))
    if both:
        raise ValueError(f"keys: {', '.join(both)} cannot both advance and change the zone")
    return Settings(
        clinic=ClinicInfo(name=_text(clinic, "name", "clinic."), phone=_text(clinic, "phone", "clinic.")),
        keys=KeyMap(advance=advance, next_zone=next_zone),
    )


def default_settings_path() -> Path:
    return platformdirs.user_config_path(APP_NAME, appauthor=False) / SETTINGS_FILE_NAME


def resolve_settings_path(explicit: Path | str | None = None) -> Path:
    """``explicit`` (from ``--settings``), else ``$STAMPSIDE_SETTINGS``, else the user config folder's file."""
    if explicit:
        return Path(explicit).expanduser()
    from_env = os.environ.get(SETTINGS_ENV_VAR, "").strip()
    if from_env:
        return Path(from_env).expanduser()
    return default_settings_path()


def load_settings(explicit: Path | str | None = None, *, required: bool | None = None) -> Settings:
    """Read the settings file; a missing file gives the defaults unless it was named (``required``)."""
    path = resolve_settings_path(explicit)
    if required is None:
        required = bool(explicit) or bool(os.environ.get(SETTINGS_ENV_VAR, "").strip())
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise SettingsError(
                f"{path}: no such settings file; create it (`stampside settings example > {path}`) or leave it out"
            ) from None
        return Settings()
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"{path}: cannot be read ({error})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path}: not valid TOML ({error})") from None
    try:
        settings = parse_settings(raw)
    except ValueError as error:
        raise SettingsError(f"{path}: {error}") from None
    return replace(settings, source=path)
