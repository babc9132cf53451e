"""Every file generated from ``firmware_protocol/schema.toml`` is current, and really follows the schema."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from stampside.firmware_protocol.codegen import Target, docs_tables, replace_block, targets, vectors
from stampside.firmware_protocol.schema import Schema, load, parse, schema_text

ROOT = Path(__file__).resolve().parents[2]
TARGETS = targets()

#: Files the registry must generate (a generator adds its path here).
EXPECTED = {
    "docs/protocol.md",
    "firmware_protocol/vectors.json",
    "firmware_protocol/wireshark/stampside.lua",
}

DOCS_BLOCKS = ("schema-messages", "schema-fields", "schema-codes", "schema-flags", "schema-timing")


def _current(path: str) -> str | None:
    file = ROOT / path
    return file.read_text(encoding="utf-8") if file.exists() else None


def _document() -> dict[str, Any]:
    return tomllib.loads(schema_text())


def test_the_registry_generates_the_expected_files() -> None:
    paths = [t.path for t in TARGETS]
    assert set(paths) >= EXPECTED, f"not generated: {sorted(EXPECTED - set(paths))}"
    assert len(paths) == len(set(paths)), "two generators write the same file"


@pytest.mark.parametrize("target", TARGETS, ids=[t.path for t in TARGETS])
def test_generated_file_is_current(target: Target) -> None:
    current = _current(target.path)
    assert current is not None, f"{target.path} is missing: run `python scripts/generate_protocol.py`"
    assert target.render(load(), current) == current, (
        f"{target.path} is stale ({target.what}): run `python scripts/generate_protocol.py`"
    )


@pytest.mark.parametrize("target", TARGETS, ids=[t.path for t in TARGETS])
def test_rendering_is_stable(target: Target) -> None:
    """Rendering the rendered text again changes nothing (a block does not grow on each run)."""
    once = target.render(load(), _current(target.path))
    assert target.render(load(), once) == once


def test_the_page_has_every_generated_block() -> None:
    text = _current(docs_tables.PATH)
    assert text is not None
    for name in DOCS_BLOCKS:
        assert text.count(f"<!-- {name}: generated from firmware_protocol/schema.toml") == 1, name
        assert text.count(f"<!-- /{name} -->") == 1, name
    assert set(docs_tables.BLOCKS) == set(DOCS_BLOCKS)


def _section_4(text: str) -> str:
    return text[text.index("## 4. Messages") : text.index("## 5. ")]


def test_the_docs_use_the_schemas_field_names() -> None:
    """force_dn, contact_ms and zone, as in the vectors and the code; no hand-written layout table is left."""
    section = _section_4(_current(docs_tables.PATH) or "")
    for row in ("| 10 | force_dn | u8 |", "| 11 | contact_ms | u16 bits 0–11 |", "| 11 | zone | u16 bits 12–15 |"):
        assert row in section
    assert "| force |" not in section and "| contact_zone |" not in section
    stamp = json.loads(_current(vectors.PATH) or "{}")["frames"]
    assert {"force_dn", "contact_ms", "zone"} <= set(next(v for v in stamp if v["type"] == "STAMP")["fields"])


def _changed_schema() -> Schema:
    document = copy.deepcopy(_document())
    stamp = next(m for m in document["messages"] if m["name"] == "STAMP")
    force = next(f for f in stamp["fields"] if f["name"] == "force_dn")
    force["meaning"] = "peak force, changed for a test"
    document["timing"]["heartbeat_interval_s"]["value"] = 0.25
    document["enums"]["FaultCode"]["values"].append({"name": "OVERHEAT", "value": 6, "meaning": "too hot"})
    battery = next(m for m in document["messages"] if m["name"] == "BATTERY")
    battery["fields"].append({"name": "temperature", "type": "u8", "since": 2, "meaning": "°C"})
    return parse(document)


def test_a_changed_schema_renders_changed_tables() -> None:
    current = _current(docs_tables.PATH)
    assert current is not None
    changed = docs_tables.render(_changed_schema(), current)
    assert changed != current
    section = _section_4(changed)
    assert "| 10 | force_dn | u8 | 0.1 N | — | peak force, changed for a test |" in section
    assert "| `heartbeat_interval_s` | 0.25 s |" in section
    assert "| 6 | OVERHEAT | too hot |" in section
    assert "| 3 | temperature | u8 | — | — | v2+ | °C |" in section
    assert "| 0x12 | BATTERY | ← | 3 (v2: 4) |" in section
    # Outside the blocks nothing moved.
    assert changed[: changed.index("## 4. Messages")] == current[: current.index("## 4. Messages")]


def test_the_vectors_take_their_field_names_from_the_schema() -> None:
    document = _document()
    stamp = next(m for m in document["messages"] if m["name"] == "STAMP")
    next(f for f in stamp["fields"] if f["name"] == "force_dn")["name"] = "force"
    with pytest.raises(vectors.VectorError, match="not the schema's"):
        vectors.render(parse(document), None)


def test_the_vectors_take_their_senders_from_the_schema() -> None:
    document = _document()
    next(m for m in document["messages"] if m["name"] == "BATTERY")["senders"] = ["host", "device"]
    with pytest.raises(vectors.VectorError, match="must name its sender"):
        vectors.render(parse(document), None)


def test_the_vectors_cover_every_layout_of_every_version() -> None:
    doc = json.loads(vectors.render(load(), None))
    have = {(v["type"], v["version"]) for v in doc["frames"]}
    for spec in load().messages:
        for version in spec.versions_with_own_layout:
            assert (spec.name, version) in have
    assert {v["sender"] for v in doc["frames"] if v["name"] == "heartbeat from device"} == {"device"}
    assert {b["reason"] for b in doc["bad_frames"]} == set(load().bad_reasons)


def test_replace_block_keeps_the_markers_and_the_text_around() -> None:
    text = "before\n<!-- schema-x: generated -->\nold\nlines\n<!-- /schema-x -->\nafter\n"
    assert (
        replace_block(text, "schema-x", "new\n")
        == "before\n<!-- schema-x: generated -->\nnew\n<!-- /schema-x -->\nafter\n"
    )
    with pytest.raises(KeyError):
        replace_block(text, "schema-y", "new")
