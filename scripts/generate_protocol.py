"""Regenerates every file derived from firmware_protocol/schema.toml.

Usage: python scripts/generate_protocol.py [--check]

With --check nothing is written: it lists the stale files and exits 1 if there are any
(tests/protocol/test_generated_files.py does the same).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stampside.firmware_protocol.codegen import targets
from stampside.firmware_protocol.schema import load

ROOT = Path(__file__).resolve().parent.parent


def stale() -> list[tuple[Path, str]]:
    """(path, new text) of every generated file whose content differs from what it should be."""
    schema = load()
    out = []
    for target in targets():
        path = ROOT / target.path
        current = path.read_text(encoding="utf-8") if path.exists() else None
        new = target.render(schema, current)
        if new != current:
            out.append((path, new))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is stale")
    args = parser.parse_args()
    changed = stale()
    for path, new in changed:
        rel = path.relative_to(ROOT)
        if args.check:
            print(f"stale: {rel}")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(new, encoding="utf-8")
            print(f"wrote {rel}")
    if not changed:
        print("every generated file is current")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
