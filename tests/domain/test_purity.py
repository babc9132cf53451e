"""The domain is pure: importing it pulls in no UI, async or database library."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import stampside.app.domain

FORBIDDEN = ("textual", "asyncio", "sqlalchemy", "alembic", "serial", "bleak")


def test_importing_every_domain_module_loads_no_ui_async_or_database_library() -> None:
    found = pkgutil.iter_modules(stampside.app.domain.__path__)
    modules = sorted(f"stampside.app.domain.{info.name}" for info in found)
    assert "stampside.app.domain.steps" in modules
    code = (
        "import sys, json, importlib\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    leaked = sorted(name for name in json.loads(out) if name.split(".")[0] in FORBIDDEN)
    assert leaked == [], f"stampside.app.domain imported {leaked}"
