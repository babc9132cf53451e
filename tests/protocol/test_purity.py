"""firmware_protocol is sans-I/O: importing it pulls in no I/O, async, UI or database library."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("serial", "bleak", "bumble", "asyncio", "textual", "sqlalchemy", "socket", "selectors", "threading")


def test_importing_the_protocol_loads_no_io_library() -> None:
    code = (
        "import sys, json; import stampside.firmware_protocol, stampside.firmware_protocol.delivery; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    loaded = set(json.loads(out))
    leaked = sorted(name for name in loaded if name.split(".")[0] in FORBIDDEN)
    assert leaked == [], f"firmware_protocol imported {leaked}"
