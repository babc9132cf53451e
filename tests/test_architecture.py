"""The architecture contract: `lint-imports` keeps every contract in pyproject.toml's [tool.importlinter].

The contracts say the domain and the wire protocol stay plain Python (no UI, database, event
loop or device I/O), the device link knows nothing of the app or the simulator, and the
packages and the app's parts import only downwards. A broken contract fails this test with
import-linter's own report, which names each offending import and its line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    assert lint_imports.exists(), f"import-linter is not installed next to {sys.executable} (pip install -e '.[test]')"
    # --no-cache: a stale cache must not hide a new import; the whole run takes well under a minute.
    result = subprocess.run(
        [str(lint_imports), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, f"an import contract is broken:\n{result.stdout}\n{result.stderr}"
    assert "0 broken" in result.stdout, result.stdout
