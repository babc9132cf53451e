"""The settings' schema and their sources, read with pydantic-settings: imported only when settings are read.

:func:`settings_from` reads the sources one at a time: the settings file (as
:func:`stampside.app.settings.read_settings_file` parsed it), the environment (pydantic-settings'
:class:`~pydantic_settings.EnvSettingsSource` over :class:`SettingsModel`: ``STAMPSIDE_`` prefix,
``__`` into a table) and a command's flags. Each source's values are kept apart so that
``stampside config show`` can say where every setting came from, and a wrong value can be
blamed on the file or the variable that gave it. They are merged (flag over environment over
file over the defaults) and checked once, by :class:`SettingsModel`; the result is the plain
:class:`stampside.app.settings.Settings` the app uses. No ``.env`` file and no secrets folder are read.

Every check says what is expected in the words the file uses; a
:class:`~pydantic.ValidationError` becomes one :class:`~stampside.app.settings.SettingsError` line:
``<file or $VARIABLE>: <field>: <what is expected>``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from stampside.app.settings import (
    ENV_NESTED_DELIMITER,
    ENV_PREFIX,
    RESERVED_KEYS,
    ChairInfo,
    ClinicInfo,
    KeyMap,
    Settings,
    SettingsError,
    SettingsFile,
    env_var_name,
)

__all__ = ["SettingsModel", "settings_from"]

TEXT_MAX = 120
#: A chair's name is stored with what its sessions hold (``session_claims.chair``).
CHAIR_NAME_MAX = 80
ADDRESS_MAX = 200
IDLE_LOCK_RANGE = (1, 60)
_KEY = re.compile(r"^[a-z0-9_+]{1,32}$")
#: Settings that are paths: a relative one is read from the file's folder when the file gives it,
#: else (a variable, a flag) from the working folder.
_PATHS = ("db", "data_folder")


def _text(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        raise ValueError("text in quotes is expected")
    text = value.strip()
    if len(text) > limit:
        raise ValueError(f"at most {limit} characters")
    return text


def _keys(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):  # one key, or (from a variable) several: "f13,f15" or '["f13", "f15"]'
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise ValueError('a list of key names is expected, e.g. ["f13"]') from None
        else:
            value = [part for part in re.split(r"[\s,]+", text) if part]
    if not isinstance(value, list | tuple) or not all(isinstance(key, str) for key in value):
        raise ValueError('a list of key names is expected, e.g. ["f13"]')
    keys = tuple(key.strip().lower() for key in value)
    for key in keys:
        if not _KEY.match(key):
            raise ValueError(f'"{key}" is not a key name (e.g. "f13", "pagedown", "space", "ctrl+j")')
        if key in RESERVED_KEYS:
            raise ValueError(f'"{key}" is already used by the app; pick a key no screen uses, e.g. f13')
    return keys


class ClinicModel(BaseModel):
    """``[clinic]``: printed on the aftercare card."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    address: str = ""
    phone: str = ""

    @field_validator("name", "phone", mode="before")
    @classmethod
    def _short_text(cls, value: Any) -> str:
        return _text(value, TEXT_MAX)

    @field_validator("address", mode="before")
    @classmethod
    def _address(cls, value: Any) -> str:
        """Lines (a multi-line TOML string) are joined with commas: the card prints the address on one line."""
        text = _text(value, ADDRESS_MAX)
        return ", ".join(line.strip().rstrip(",") for line in text.splitlines() if line.strip())


class ChairModel(BaseModel):
    """``[chair]``: this computer's chair, named to the other chairs sharing the database."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> str:
        """One line: spaces and line breaks inside are one space each."""
        return " ".join(_text(value, CHAIR_NAME_MAX).split())


class KeysModel(BaseModel):
    """``[keys]``: a foot switch's keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    advance: Annotated[tuple[str, ...], NoDecode] = ()
    next_zone: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("advance", "next_zone", mode="before")
    @classmethod
    def _key_names(cls, value: Any) -> tuple[str, ...]:
        return _keys(value)

    @model_validator(mode="after")
    def _advance_or_next_zone(self) -> KeysModel:
        both = sorted(set(self.advance) & set(self.next_zone))
        if both:
            raise ValueError(f"{', '.join(both)} cannot both advance and change the zone")
        return self


class SettingsModel(BaseSettings):
    """Every setting, its default and its check; the environment's names come from ``model_config``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        env_ignore_empty=True,
        extra="forbid",
        frozen=True,
    )

    db: str | None = None
    data_folder: Path | None = None
    timezone: str | None = None
    idle_lock_minutes: int = 5
    clinic: ClinicModel = ClinicModel()
    chair: ChairModel = ChairModel()
    keys: KeysModel = KeysModel()

    @field_validator("db", mode="before")
    @classmethod
    def _database(cls, value: Any) -> str | None:
        text = "" if value is None else _text(value, 2000)
        return text or None

    @field_validator("data_folder", mode="before")
    @classmethod
    def _folder(cls, value: Any) -> Path | None:
        text = "" if value is None else _text(str(value) if isinstance(value, Path) else value, 2000)
        if not text:
            return None
        folder = Path(text).expanduser().absolute()
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"{folder} is a file; a folder is expected")
        return folder

    @field_validator("timezone", mode="before")
    @classmethod
    def _zone(cls, value: Any) -> str | None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

        name = "" if value is None else _text(value, 64)
        if not name:
            return None
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            hint = "" if available_timezones() else " (this computer has no time zone data: install tzdata)"
            raise ValueError(
                f'"{name}" is not a time zone; an IANA name is expected, e.g. "Europe/London" or "America/New_York"'
                + hint
            ) from None
        return name

    @field_validator("idle_lock_minutes", mode="before")
    @classmethod
    def _minutes(cls, value: Any) -> int:
        low, high = IDLE_LOCK_RANGE
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"a whole number of minutes from {low} to {high} is expected")
        return value

    def to_settings(self, source: Path | None, origins: Mapping[str, str]) -> Settings:
        return Settings(
            db=self.db,
            data_folder=self.data_folder,
            timezone=self.timezone,
            idle_lock_minutes=self.idle_lock_minutes,
            clinic=ClinicInfo(name=self.clinic.name, address=self.clinic.address, phone=self.clinic.phone),
            chair=ChairInfo(name=self.chair.name),
            keys=KeyMap(advance=self.keys.advance, next_zone=self.keys.next_zone),
            source=source,
            origins=dict(origins),
        )


# -- reading --------------------------------------------------------------------------------

#: One source's values and how it names where a setting came from (``--db``, ``$STAMPSIDE_DB``, the file).
_Layer = tuple[Mapping[str, Any], Callable[[str], str]]


def settings_from(file: SettingsFile, flags: Mapping[str, Any]) -> Settings:
    """``flags`` over the environment over ``file`` over the defaults, checked (:class:`SettingsError`)."""
    file_values = _relative_to(dict(file.data or {}), file.path.parent)
    try:
        env_values = EnvSettingsSource(SettingsModel)()
    except SourceError as error:
        raise SettingsError(_env_source_problem(error)) from None
    flag_values = {name: value for name, value in flags.items() if value is not None}
    layers: list[_Layer] = [  # highest first
        (flag_values, lambda name: f"--{name.replace('_', '-')}"),
        (env_values, lambda name: f"${_env_name(name)}"),
        (file_values, lambda _name: str(file.path)),
    ]
    origins = _origins(layers)
    try:
        model = SettingsModel.model_validate(_merged(file_values, env_values, flag_values))
    except ValidationError as error:
        raise SettingsError(_problem(error.errors()[0], layers, origins)) from None
    return model.to_settings(file.path if file.data is not None else None, origins)


def _relative_to(values: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The file's relative paths are read from the file's folder (not from wherever the app was started)."""
    for name in _PATHS:
        value = values.get(name)
        if isinstance(value, str) and value.strip() and "://" not in value:
            path = Path(value.strip()).expanduser()
            if not path.is_absolute():
                values[name] = str(folder.absolute() / path)
    return values


def _merged(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Tables merged setting by setting, later layers winning."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for name, value in layer.items():
            if isinstance(value, Mapping) and isinstance(merged.get(name), Mapping):
                merged[name] = _merged(merged[name], value)
            else:
                merged[name] = value
    return merged


def _leaves(values: Mapping[str, Any]) -> list[str]:
    """Dotted names of the settings in ``values`` (a table's settings one by one)."""
    names: list[str] = []
    for name, value in values.items():
        if isinstance(value, Mapping):
            names += [f"{name}.{inner}" for inner in value] or [name]
        else:
            names.append(name)
    return names


def _origins(layers: list[_Layer]) -> dict[str, str]:
    """Where each given setting comes from: the highest source that gives it."""
    origins: dict[str, str] = {}
    for values, label in reversed(layers):  # the higher a source, the later it writes
        for name in _leaves(values):
            origins[name] = label(name)
    return origins


def _env_name(name: str) -> str:
    """The variable that set ``name``: its own (``STAMPSIDE_CLINIC__PHONE``), or its table's (JSON)."""
    present = {key.upper() for key in os.environ}
    parts = name.split(".")
    for depth in range(len(parts), 0, -1):
        candidate = env_var_name(".".join(parts[:depth]))
        if candidate in present:
            return candidate
    return env_var_name(name)


def _value_at(values: Mapping[str, Any], loc: tuple[str, ...]) -> tuple[bool, Any]:
    node: Any = values
    for part in loc:
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _problem(error: ErrorDetails, layers: list[_Layer], origins: Mapping[str, str]) -> str:
    """One line: where the wrong value came from, the field, what is expected."""
    loc = tuple(str(part) for part in error["loc"])
    field = ".".join(loc)
    where = ""
    for values, label in layers:
        found, value = _value_at(values, loc)
        if found and not isinstance(value, Mapping):
            where = label(field)
            break
    if not where:  # a whole table's check (one key for two actions): whoever gave its settings
        where = " and ".join(dict.fromkeys(origin for name, origin in origins.items() if name.startswith(f"{field}.")))
    return f"{where or 'settings'}: {field}: {_expected(error, loc)}"


def _expected(error: ErrorDetails, loc: tuple[str, ...]) -> str:
    kind = error["type"]
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    if kind == "extra_forbidden":
        table: Any = SettingsModel  # the table the unknown name is in: the file's top level, [clinic], [keys]
        for part in loc[:-1]:
            table = table.model_fields[part].annotation
        known = sorted(table.model_fields) if isinstance(table, type) and issubclass(table, BaseModel) else []
        return f"not a setting; known: {', '.join(known)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"a table ([{'.'.join(loc)}]) is expected"
    return str(error["msg"])


def _env_source_problem(error: SourceError) -> str:
    """pydantic-settings could not decode a table's variable (``STAMPSIDE_CLINIC='{…'``)."""
    found = re.search(r'field "(\w+)"', str(error))
    name = found.group(1) if found else "settings"
    return (
        f"${env_var_name(name)}: {name}: a JSON table is expected; or set its settings one by one, "
        f"e.g. {env_var_name(name + '.' + _first_setting(name))}"
    )


def _first_setting(table: str) -> str:
    annotation = SettingsModel.model_fields[table].annotation if table in SettingsModel.model_fields else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return next(iter(annotation.model_fields))
    return "name"
