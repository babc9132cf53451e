"""Writes firmware_protocol/vectors.json only (``python scripts/generate_protocol.py`` writes it too).

The vectors are generated from firmware_protocol/schema.toml and the Python encoder by
``stampside.firmware_protocol.codegen.vectors``; the cases live there. Run this (or
generate_protocol.py) after changing a layout on purpose: a test fails while the file is stale.
Usage: python scripts/make_vectors.py
"""

from __future__ import annotations

import json
from pathlib import Path

from stampside.firmware_protocol.codegen import vectors
from stampside.firmware_protocol.schema import load

OUT = Path(__file__).resolve().parent.parent / vectors.PATH


def main() -> None:
    text = vectors.render(load(), None)
    OUT.write_text(text, encoding="utf-8")
    doc = json.loads(text)
    print(f"wrote {len(doc['frames'])} frames and {len(doc['bad_frames'])} bad frames to {OUT}")


if __name__ == "__main__":
    main()
