"""Files generated from the protocol schema (``schema.toml``): pure text in, text out.

Each :class:`Target` names a file of the repository (relative to its root) and renders its
new content from the schema and the file's current text (so a generator may replace only a
marked block of a hand-written file, as in ``docs/protocol.md``). ``scripts/generate_protocol.py``
writes them; ``tests/protocol/test_generated_files.py`` fails when one is stale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stampside.firmware_protocol.schema import Schema


@dataclass(frozen=True, slots=True)
class Target:
    #: Path relative to the repository root.
    path: str
    #: (schema, current text or None if the file does not exist) -> new text.
    render: Callable[[Schema, str | None], str]
    what: str


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the block between ``<!-- name: … -->`` and ``<!-- /name -->`` set to ``body``.

    The opening marker line is kept as it is; ``body`` goes between the two marker lines.
    Raises ``KeyError`` when the markers are missing.
    """
    open_prefix = f"<!-- {name}:"
    close = f"<!-- /{name} -->"
    start = text.find(open_prefix)
    end = text.find(close, start)
    if start < 0 or end < 0:
        raise KeyError(name)
    line_end = text.index("\n", start) + 1
    return text[:line_end] + body.rstrip("\n") + "\n" + text[end:]


def targets() -> list[Target]:
    """Every generated file (imported lazily: each generator is its own module)."""
    found: list[Target] = []
    # Each generator module exposes TARGETS: list[Target].
    import importlib

    for module in _GENERATORS:
        found.extend(importlib.import_module(f"{__name__}.{module}").TARGETS)
    return found


#: Generator modules of this package, in the order they run.
_GENERATORS: list[str] = ["docs_tables", "vectors", "c_header", "lua_dissector"]
