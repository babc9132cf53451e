"""Scenario files: TOML in the shape of :class:`~stampside.simulator.config.SimConfig`, checked by pydantic.

A scenario is read with :func:`read_scenario` (TOML to a dict), merged with any overrides
(the CLI's flags win) and validated by :func:`build_config`. Problems become one
:class:`~stampside.simulator.errors.ScenarioError` whose message names each bad field, for example
``scenario flaky.toml: faults.drop_for: Input should be greater than 0 (got -1)``.

Scenarios shipped with Stampside live in ``simulator/scenarios/`` and can be named
without their path or suffix (``--scenario flaky_link``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stampside.simulator.config import SimConfig
from stampside.simulator.errors import ScenarioError

SCENARIO_DIR = Path(__file__).with_name("scenarios")

Loc = tuple[str | int, ...]


def shipped_scenarios() -> list[str]:
    """Names of the scenarios shipped with Stampside."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def resolve_scenario(name: str | Path) -> Path:
    """A scenario file path, or the name of a shipped scenario, as a path that exists."""
    path = Path(name)
    if path.is_file():
        return path
    if path.exists():
        raise ScenarioError(f"scenario {path}: not a file")
    if path.parent == Path(".") and path.suffix in ("", ".toml"):
        shipped = SCENARIO_DIR / f"{path.stem}.toml"
        if shipped.is_file():
            return shipped
    raise ScenarioError(f"scenario {name}: no such file (shipped scenarios: {', '.join(shipped_scenarios())})")


def read_scenario(path: Path) -> dict[str, Any]:
    """The TOML of a scenario file as a dict (not yet validated)."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario {path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"scenario {path}: not UTF-8 text, so not a TOML file") from None
    except OSError as exc:
        raise ScenarioError(f"scenario {path}: {exc.strerror or exc}") from None


def load_scenario(name: str | Path) -> SimConfig:
    """Read and validate a scenario file (or a shipped scenario's name)."""
    path = resolve_scenario(name)
    return build_config(read_scenario(path), source=f"scenario {path}")


def build_config(
    scenario: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    source: str = "settings",
    labels: Mapping[Loc, str] | None = None,
) -> SimConfig:
    """Validate ``scenario`` with ``overrides`` merged on top (nested dicts merge key by key).

    ``labels`` names overridden fields for error messages (the CLI maps a field's path to
    its flag, so a bad ``--corrupt 2`` is reported as ``--corrupt``).
    """
    data = merge(scenario or {}, overrides or {})
    try:
        return SimConfig.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(describe_errors(exc, source, labels or {})) from None


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` on top; nested mappings merge, anything else is replaced."""
    out = dict(base)
    for key, value in overrides.items():
        current = out.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            out[key] = merge(current, value)
        else:
            out[key] = value
    return out


def describe_errors(exc: ValidationError, source: str, labels: Mapping[Loc, str]) -> str:
    """One line naming every bad field."""
    parts = []
    for error in exc.errors():
        loc = _field_loc(error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "union_tag_not_found":
            message = "needs an action (drop, reboot, battery, head, corrupt, pause, rate or sensor_fault)"
        value = error.get("input")
        if error["type"] not in ("missing", "extra_forbidden") and isinstance(value, str | int | float | bool):
            message += f" (got {value!r})"
        label = labels.get(loc)
        if label is not None:
            parts.append(f"{label}: {message}")
        else:
            where = _render_loc(loc)
            parts.append(f"{source}: {where}: {message}" if where else f"{source}: {message}")
    return "; ".join(parts)


def _field_loc(loc: tuple[str | int, ...]) -> Loc:
    """The location without pydantic's union tags (``timeline, 0, drop, seconds`` → ``timeline, 0, seconds``)."""
    if len(loc) >= 3 and loc[0] == "timeline" and isinstance(loc[1], int) and isinstance(loc[2], str):
        return (*loc[:2], *loc[3:])
    return tuple(loc)


def _render_loc(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text
