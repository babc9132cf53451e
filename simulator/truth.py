"""The truth log: every stamp the device counted, as one JSON line each.

The keys and units are the export's, so a test can compare the two directly::

    {"boot": 1, "seq": 17, "device_time_ms": 8431, "force": 6.2, "contact_ms": 174, "zone": 0}

``force`` is in newtons (the wire's 0.1 N steps divided by 10). A stamp is written and
flushed before its frame is handed to the link, so whatever a host receives is already in
the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from stampside.firmware_protocol import Stamp
from stampside.simulator.errors import SimulatorError

TRUTH_KEYS = ("boot", "seq", "device_time_ms", "force", "contact_ms", "zone")


def truth_line(stamp: Stamp) -> str:
    """The JSON line for one stamp, newline included."""
    return (
        f'{{"boot": {stamp.boot}, "seq": {stamp.seq}, "device_time_ms": {stamp.device_time_ms}, '
        f'"force": {stamp.force_dn / 10!r}, "contact_ms": {stamp.contact_ms}, "zone": {stamp.zone}}}\n'
    )


def truth_record(stamp: Stamp) -> dict[str, Any]:
    """One stamp as the truth log's dict."""
    return {
        "boot": stamp.boot,
        "seq": stamp.seq,
        "device_time_ms": stamp.device_time_ms,
        "force": stamp.force_dn / 10,
        "contact_ms": stamp.contact_ms,
        "zone": stamp.zone,
    }


def read_truth(path: Path) -> list[dict[str, Any]]:
    """The records of a truth log file, in order."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class TruthLog:
    """Collects counted stamps: in memory (``keep``) and/or as JSON lines in a file."""

    def __init__(self, path: Path | None = None, keep: bool = True) -> None:
        self.path = path
        self.keep = keep
        #: The counted stamps, in order (only when ``keep``).
        self.records: list[Stamp] = []
        self.count = 0
        self._file: IO[str] | None = None
        self._pending: list[str] = []

    def open(self) -> None:
        if self.path is None or self._file is not None:
            return
        try:
            self._file = self.path.open("w", encoding="utf-8")
        except OSError as exc:
            raise SimulatorError(f"cannot write the truth log {self.path}: {exc.strerror or exc}") from None

    def add(self, stamp: Stamp) -> None:
        self.count += 1
        if self.keep:
            self.records.append(stamp)
        if self._file is not None:
            self._pending.append(truth_line(stamp))

    def flush(self) -> None:
        """Write and flush the lines added since the last flush."""
        if self._pending and self._file is not None:
            self._file.write("".join(self._pending))
            self._file.flush()
        self._pending.clear()

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None
