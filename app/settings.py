"""The clinic's settings: one TOML file, environment variables over it, a command's flags over both.

The file is ``--settings PATH``, else ``$STAMPSIDE_SETTINGS``, else ``settings.toml`` in the
platform's user config folder (``stampside config path`` prints it; ``stampside config example``
prints a file to start from). Each setting can also come from an environment variable, which
wins over the file: ``STAMPSIDE_`` and the setting's name in capitals, with ``__`` between a
table and its setting (``STAMPSIDE_DB``, ``STAMPSIDE_TIMEZONE``, ``STAMPSIDE_CLINIC__PHONE``, ``STAMPSIDE_CHAIR__NAME``,
``STAMPSIDE_KEYS__ADVANCE=f13,f15``). A command's flag wins over both (``--db``). ``stampside
config show`` prints every setting in effect and where it came from.

A missing file means the defaults (unless it was named); a file or variable that does not hold
what is expected is refused as a whole with one line naming the file or the variable, the field
and what is expected (:class:`SettingsError`), never half read.

Reading happens in two steps so that the app's first paint waits for neither a validation
library nor a wrong value: :func:`read_settings_file` reads the file as TOML (plain Python:
a missing, unreadable or malformed file is refused here), and :meth:`SettingsFile.settings`
checks its values together with the environment's through pydantic-settings
(:mod:`stampside.app.settings_model`, imported only then). ``stampside app`` takes the second step in
its worker, after the first paint, where the protocol's pydantic models are built anyway;
other commands take both at once (:func:`load_settings`).

What the rest of the app sees is :class:`Settings`: plain frozen values.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from stampside.app.storage.location import (
    APP_NAME,
    DEFAULT_FILE_NAME,
    data_folder,
    expand_home,
    normalize_database_url,
    resolve_database_url,
)
from stampside.app.storage.private_files import make_private_folder

if TYPE_CHECKING:
    from datetime import tzinfo

    from sqlalchemy.engine import URL

__all__ = [
    "DEFAULT_ORIGIN",
    "ENV_PREFIX",
    "EXAMPLE",
    "SETTINGS_ENV_VAR",
    "ChairInfo",
    "ClinicInfo",
    "KeyMap",
    "Settings",
    "SettingsError",
    "SettingsFile",
    "default_settings_path",
    "env_var_name",
    "load_settings",
    "local_zone_name",
    "read_settings_file",
    "resolve_settings_path",
    "setting_names",
]

#: The environment variable that names the settings file when ``--settings`` is not given.
SETTINGS_ENV_VAR = "STAMPSIDE_SETTINGS"
SETTINGS_FILE_NAME = "settings.toml"
#: Every setting's environment variable starts with this; ``__`` separates a table from its setting.
ENV_PREFIX = "STAMPSIDE_"
ENV_NESTED_DELIMITER = "__"
#: Where a setting came from when neither a flag, a variable nor the file gave it.
DEFAULT_ORIGIN = "default"
DEFAULT_IDLE_LOCK_MINUTES = 5

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

EXAMPLE = """\
# Stampside's settings. Each one can also be set by an environment variable, which wins over
# this file: STAMPSIDE_ and the name in capitals, with __ after a table's name
# (STAMPSIDE_TIMEZONE, STAMPSIDE_CLINIC__PHONE, STAMPSIDE_KEYS__ADVANCE=f13).
# `stampside config show` prints what is in effect and where each value came from.

# The clinic's database: a SQLAlchemy URL or a SQLite file path (a relative path is read from
# this file's folder) [default: stampside.db in the data folder]. --db and STAMPSIDE_DB win.
# db = "/srv/stampside/stampside.db"

# What the app writes for people (aftercare cards, reports, exports, screenshots), and the
# database unless db names one [default: beside a SQLite database, else the user data folder].
# data_folder = "/srv/stampside"

# Dates and times are shown in this time zone (an IANA name) [default: the computer's].
# timezone = "Europe/London"

# The app locks after this many minutes without a key, 1 to 60 [default: 5].
idle_lock_minutes = 5

[clinic]
# Printed on the aftercare card.
name = "Clinic Name"
address = "1 High Street, London N1 9GU"
phone = "+44 20 7946 0000"

[chair]
# This computer's chair, as the other chairs sharing the database name it ("open at Chair 2
# by Dr Ada") [default: the computer's host name].
# name = "Chair 2"

[keys]
# A USB foot switch sends a key; name it here (Textual key names: "f13", "pagedown", "space").
advance = ["f13"]
next_zone = ["f14"]
"""


class SettingsError(Exception):
    """The settings cannot be used; the message names the file or variable, the field and what is expected."""


@dataclass(frozen=True)
class ClinicInfo:
    """Printed on the aftercare card: who treated the patient, where, and who to call."""

    name: str = ""
    address: str = ""
    phone: str = ""


@dataclass(frozen=True)
class ChairInfo:
    """This computer's chair, among the chairs that share one database."""

    #: Its name, shown to the other chairs ("open at Chair 2 by …"); empty: the computer's host name.
    name: str = ""


@dataclass(frozen=True)
class KeyMap:
    """Extra keys (a foot switch) for the chairside flow's two most frequent actions."""

    #: Does the step's main action and moves on, as ``enter`` does.
    advance: tuple[str, ...] = ()
    #: On the stamping screen: the next zone becomes the active one.
    next_zone: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    """The settings in effect, checked; the defaults when nothing says otherwise."""

    #: The clinic's database as given (a URL or a file path); ``None``: the data folder's stampside.db.
    db: str | None = None
    #: Where the database is kept unless ``db`` names one, and where the app writes for people when
    #: the database is not a SQLite file (whose files go beside it); ``None``: the user data folder.
    data_folder: Path | None = None
    #: An IANA time zone name; ``None``: the computer's zone.
    timezone: str | None = None
    #: Minutes without a key before the app locks (sign-in).
    idle_lock_minutes: int = DEFAULT_IDLE_LOCK_MINUTES
    clinic: ClinicInfo = field(default_factory=ClinicInfo)
    chair: ChairInfo = field(default_factory=ChairInfo)
    keys: KeyMap = field(default_factory=KeyMap)
    #: The settings file that was read (``None``: there was none).
    source: Path | None = None
    #: Where each setting that is not a default came from, by dotted name (``clinic.phone``):
    #: a flag (``--db``), a variable (``$STAMPSIDE_DB``) or the file's path.
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def origin(self, name: str) -> str:
        """Where the setting ``name`` (dotted, e.g. ``clinic.phone``) came from; ``default`` if from nowhere."""
        return self.origins.get(name, DEFAULT_ORIGIN)

    @property
    def chair_name(self) -> str:
        """This chair's name: ``chair.name``, else the computer's host name."""
        from stampside.app.storage.claims import chair_label, default_chair_name

        return chair_label(self.chair.name) or default_chair_name()

    @property
    def tz(self) -> tzinfo | None:
        """The time zone dates and times are shown in; ``None``: the computer's."""
        if self.timezone is None:
            return None
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.timezone)

    def database_url(self) -> str | None:
        """The database these settings name: ``db``, else ``stampside.db`` in the data folder; ``None``
        when neither is set (then the user data folder's file:
        :func:`~stampside.app.storage.location.resolve_database_url`)."""
        if self.db:
            return normalize_database_url(self.db)
        if self.data_folder is not None:
            return f"sqlite:///{self.data_folder / DEFAULT_FILE_NAME}"
        return None

    def resolve_database_url(self, flag: str | None = None) -> str:
        """The database to open: ``flag`` (``--db``, or ``$STAMPSIDE_DB`` as click read it), else
        :meth:`database_url` (a data folder is made 0700 when missing), else the user data folder's file."""
        if flag:
            return normalize_database_url(flag)
        url = self.database_url()
        if url is None:
            return resolve_database_url(None)
        if not self.db and self.data_folder is not None:
            make_private_folder(self.data_folder, own=False)  # the clinic chose it: made 0700 if missing
        return url

    def folder(self, database_url: URL, name: str) -> Path:
        """``name/`` (``aftercare``, ``reports``, …) beside a SQLite database file, so that the clinic's
        records stay together; for another database (PostgreSQL) in the data folder, else the user data folder."""
        return data_folder(database_url, name, elsewhere=self.data_folder)


def setting_names() -> tuple[str, ...]:
    """Every setting's dotted name, in the order of :class:`Settings` (``db`` … ``keys.next_zone``)."""
    names: list[str] = []
    for item in fields(Settings):
        if item.name in ("source", "origins"):
            continue
        table = {"clinic": ClinicInfo, "chair": ChairInfo, "keys": KeyMap}.get(item.name)
        if table is None:
            names.append(item.name)
        else:
            names += [f"{item.name}.{inner.name}" for inner in fields(table)]
    return tuple(names)


def env_var_name(name: str) -> str:
    """The environment variable of the setting ``name`` (dotted): ``clinic.phone`` → ``STAMPSIDE_CLINIC__PHONE``."""
    return ENV_PREFIX + ENV_NESTED_DELIMITER.join(name.split(".")).upper()


@dataclass(frozen=True)
class SettingsFile:
    """The settings file as read: its TOML document, not yet checked (``data`` is ``None`` when
    there is no file)."""

    path: Path
    data: Mapping[str, Any] | None = None

    def settings(self, flags: Mapping[str, Any] | None = None) -> Settings:
        """The settings in effect: ``flags`` (``{"db": …}`` from ``--db``) over the environment over
        this file over the defaults, checked; :class:`SettingsError` when a value is wrong."""
        from stampside.app.settings_model import settings_from

        return settings_from(self, flags or {})


def default_settings_path() -> Path:
    return platformdirs.user_config_path(APP_NAME, appauthor=False) / SETTINGS_FILE_NAME


def resolve_settings_path(explicit: Path | str | None = None) -> Path:
    """``explicit`` (from ``--settings``), else ``$STAMPSIDE_SETTINGS``, else the user config folder's file."""
    if explicit:
        return expand_home(Path(explicit))
    from_env = os.environ.get(SETTINGS_ENV_VAR, "").strip()
    if from_env:
        return expand_home(Path(from_env))
    return default_settings_path()


def read_settings_file(explicit: Path | str | None = None, *, required: bool | None = None) -> SettingsFile:
    """Read the settings file as TOML; a missing file is no file unless it was named (``required``).

    Only the file's form is checked here (plain Python, fast): its values are checked by
    :meth:`SettingsFile.settings`.
    """
    path = resolve_settings_path(explicit)
    if required is None:
        required = bool(explicit) or bool(os.environ.get(SETTINGS_ENV_VAR, "").strip())
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise SettingsError(
                f"{path}: no such settings file; create it (`stampside config example > {path}`) or leave it out"
            ) from None
        return SettingsFile(path)
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"{path}: cannot be read ({error})") from None
    try:
        return SettingsFile(path, tomllib.loads(text))
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path}: not valid TOML ({error})") from None


def load_settings(
    explicit: Path | str | None = None, *, required: bool | None = None, flags: Mapping[str, Any] | None = None
) -> Settings:
    """The settings in effect: the file (:func:`read_settings_file`) with the environment and ``flags``, checked."""
    return read_settings_file(explicit, required=required).settings(flags)


def local_zone_name() -> str:
    """The computer's time zone, by its IANA name where the system says it (``$TZ``, ``/etc/localtime``),
    else by its abbreviation (``CET``)."""
    from_env = os.environ.get("TZ", "").strip().lstrip(":")
    if from_env and not from_env.startswith("/"):
        return from_env
    try:
        target = str(Path(from_env or "/etc/localtime").resolve())
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        return target.split("zoneinfo/", 1)[1]
    from datetime import datetime

    return datetime.now().astimezone().tzname() or "UTC"
