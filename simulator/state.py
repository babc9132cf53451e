"""The device's non-volatile memory between runs: boot counter, seq, epoch and unacknowledged stamps.

A real stamp keeps its boot counter, its newest ``seq``, its numbering **epoch** and the buffer
of stamps the host has not acknowledged in flash, so a power cycle carries on where it
stopped. ``stampside sim`` keeps them in a *state file*, so that a second run on the same
database is the same device powered up again (boot + 1, seqs above the first run's), not a
wiped one. The in-process :class:`~stampside.simulator.runner.Simulator` uses no state file unless it
is given one.

One JSON file holds every serial (by default ``simulator-state.json`` in the user state
folder, :func:`default_state_path`)::

    {
      "format": "stampside-simulator-state",
      "version": 1,
      "devices": {
        "SS-000001": {
          "boot": 3,
          "last_seq": 1530,
          "seq_reserved": 11530,
          "epoch": 2882400001,
          "clean": false,
          "saved_at": "2025-05-01T09:30:12.345Z",
          "buffer": [
            [3, 1529, 8123, 62, 174, 0],
            [3, 1530, 8601, 58, 181, 0]
          ]
        }
      }
    }

``buffer`` rows are the unacknowledged stamps, oldest first: boot, seq, device_time_ms,
force in 0.1 N, contact_ms, zone. ``clean`` says the run that saved it stopped cleanly.

**Writing.** Every save rewrites the whole file atomically: a temporary file in the same
folder, fsync, rename over the old one, fsync of the folder. Other serials' entries are
kept as they are (re-read under a lock, ``FILE.lock``, if another process changed the
file). A run claims its serial for its lifetime with a second lock (``FILE.SERIAL.lock``):
two simulators cannot be the same device at once.

**When it saves.** At power-up (the new boot), before any frame or truth line of a new boot
goes out, whenever the buffer or seq changed (at most every :data:`SAVE_INTERVAL` s, and
never more than :data:`SAVE_SHARE` of the time), and on a clean stop.

**Seq reservation.** A seq must never go back, even if the process is killed (SIGKILL)
between two saves. So the file holds a ceiling, ``seq_reserved``: before any seq above the
ceiling reaches the truth log or the wire, the simulator saves a new ceiling ``last_seq +
block`` (:data:`SEQ_BLOCK` numbers; the block doubles, up to :data:`MAX_SEQ_BLOCK`, while
blocks last less than :data:`FAST_BLOCK_S` seconds). A clean stop saves ``seq_reserved =
last_seq``. The next run numbers from ``seq_reserved + 1`` whichever way the last one
stopped: after a SIGKILL the unused rest of the block is skipped, never reused.

What a SIGKILL does lose: the stamps counted since the last save are not in the saved
buffer (their seqs are not reused; a host that missed them sees a gap it cannot fill). A
real device writes every stamp to flash before sending it; stop the simulator with Ctrl-C
or SIGTERM to keep everything.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

import platformdirs

from stampside.firmware_protocol import Stamp
from stampside.simulator.config import U16_MAX, U32_MAX, DeviceConfig, new_epoch
from stampside.simulator.errors import SimulatorError

if TYPE_CHECKING:
    from stampside.simulator.device import Device

log = logging.getLogger("stampside.sim")

APP_NAME = "stampside"
STATE_FILE_NAME = "simulator-state.json"
STATE_FORMAT = "stampside-simulator-state"
STATE_VERSION = 1
#: Seq numbers reserved at a time (the most a SIGKILL can skip, while blocks last long).
SEQ_BLOCK = 10_000
#: The largest block (reached only at flood rates).
MAX_SEQ_BLOCK = 1_000_000
#: A block used up faster than this makes the next one twice as big.
FAST_BLOCK_S = 5.0
#: Shortest time between two saves of a changed state, seconds.
SAVE_INTERVAL = 0.1
#: Saving takes at most this share of the time: the next save waits duration / SAVE_SHARE.
SAVE_SHARE = 0.05
#: The order of a buffer row's numbers.
BUFFER_FIELDS = ("boot", "seq", "device_time_ms", "force_dn", "contact_ms", "zone")


def default_state_path() -> Path:
    """``simulator-state.json`` in the user state folder (``$XDG_STATE_HOME/stampside`` on Linux)."""
    return platformdirs.user_state_path(APP_NAME, appauthor=False) / STATE_FILE_NAME


class StateError(SimulatorError):
    """The state file cannot be read, is not valid, cannot be written, or its serial is in use."""


@dataclass(frozen=True, slots=True)
class PersistentState:
    """What a device keeps in non-volatile memory."""

    boot: int
    last_seq: int
    epoch: int
    #: Stamps not acknowledged yet, oldest first.
    buffer: tuple[Stamp, ...] = ()


@dataclass(frozen=True, slots=True)
class SavedDevice:
    """One serial's entry in the state file."""

    state: PersistentState
    #: No seq above this was used; the next run numbers from here + 1.
    seq_reserved: int
    #: The run that saved it stopped cleanly (``seq_reserved == last_seq``).
    clean: bool = True
    saved_at: str = ""

    @property
    def next_last_seq(self) -> int:
        """The newest seq as the next power-up sees it: the reservation's ceiling."""
        return max(self.state.last_seq, self.seq_reserved)


# --- the file -----------------------------------------------------------------------


class StateFile:
    """The state file at ``path``: reading, locked atomic updates, and claims on serials."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: Raw entries as last read or written, and the file's identity then.
        self._devices: dict[str, Any] = {}
        self._identity: tuple[int, int, int] | None = None
        self._claims: dict[str, IO[bytes]] = {}

    # -- reading ---------------------------------------------------------------------

    def load(self, serial: str) -> SavedDevice | None:
        """The saved state of ``serial`` (None: the file or the entry does not exist)."""
        self._read()
        raw = self._devices.get(serial)
        return None if raw is None else self._parse_entry(serial, raw)

    def _read(self) -> None:
        path = self.path
        try:
            with path.open("rb") as f:
                identity = _identity(os.fstat(f.fileno()))
                data = f.read()
        except FileNotFoundError:
            self._devices, self._identity = {}, None
            return
        except OSError as exc:
            raise self._error(f"cannot be read: {exc.strerror or exc}") from None
        try:
            doc = json.loads(data)
        except UnicodeDecodeError:
            raise self._error("is not valid JSON (it is not UTF-8 text)") from None
        except json.JSONDecodeError as exc:
            raise self._error(f"is not valid JSON (line {exc.lineno}: {exc.msg})") from None
        if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
            raise self._error(f'is not a simulator state file (no "format": "{STATE_FORMAT}")')
        if doc.get("version") != STATE_VERSION:
            raise self._error(f"has version {doc.get('version')!r}; this simulator reads version {STATE_VERSION}")
        devices = doc.get("devices")
        if not isinstance(devices, dict):
            raise self._error('has no "devices" object')
        self._devices, self._identity = devices, identity

    def _parse_entry(self, serial: str, raw: Any) -> SavedDevice:
        where = f"devices.{serial}"
        if not isinstance(raw, dict):
            raise self._error(f"is not valid: {where} is not an object")

        def number(key: str, low: int, high: int) -> int:
            value = raw.get(key)
            if type(value) is not int or not low <= value <= high:
                raise self._error(f"is not valid: {where}.{key} must be an integer {low}–{high}, got {value!r}")
            return value

        boot = number("boot", 1, U16_MAX)
        last_seq = number("last_seq", 0, U32_MAX)
        seq_reserved = number("seq_reserved", last_seq, U32_MAX)
        epoch = number("epoch", 1, U32_MAX)
        clean = raw.get("clean", False)
        if not isinstance(clean, bool):
            raise self._error(f"is not valid: {where}.clean must be true or false, got {clean!r}")
        rows = raw.get("buffer", [])
        if not isinstance(rows, list):
            raise self._error(f"is not valid: {where}.buffer must be a list")
        buffer = []
        previous = 0
        for i, row in enumerate(rows):
            if not (
                isinstance(row, list) and len(row) == len(BUFFER_FIELDS) and all(type(v) is int for v in row)
            ):
                raise self._error(f"is not valid: {where}.buffer[{i}] must be {len(BUFFER_FIELDS)} integers")
            stamp = Stamp(*row)
            if not previous < stamp.seq <= last_seq or not 1 <= stamp.boot <= U16_MAX:
                raise self._error(
                    f"is not valid: {where}.buffer[{i}] has boot {stamp.boot}, seq {stamp.seq} "
                    f"(seqs must grow and be at most last_seq {last_seq})"
                )
            previous = stamp.seq
            buffer.append(stamp)
        return SavedDevice(
            PersistentState(boot, last_seq, epoch, tuple(buffer)),
            seq_reserved,
            clean,
            str(raw.get("saved_at", "")),
        )

    # -- writing ---------------------------------------------------------------------

    def save(self, serial: str, saved: SavedDevice) -> None:
        """Replace the entry of ``serial``, keeping the others: locked, atomic, durable."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._locked():
                if self._changed_by_others():
                    self._read()
                devices = dict(self._devices)
                devices[serial] = saved
                self._identity = self._write(devices)
                self._devices = devices
        except StateError:
            raise
        except OSError as exc:
            raise StateError(
                f"cannot write the simulator state file {self.path}: {exc.strerror or exc}; "
                "pass --state OTHER or --no-state"
            ) from None

    def _changed_by_others(self) -> bool:
        try:
            return _identity(os.stat(self.path)) != self._identity
        except FileNotFoundError:
            return self._identity is not None

    def _write(self, devices: dict[str, Any]) -> tuple[int, int, int]:
        text = _render(devices)
        folder = self.path.parent
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
                identity = _identity(os.fstat(f.fileno()))
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return identity

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        import fcntl  # POSIX; imported here so that the device model imports anywhere

        with open(f"{self.path}.lock", "ab") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    # -- claims ----------------------------------------------------------------------

    def claim(self, serial: str) -> None:
        """Be ``serial`` until :meth:`release`: StateError if another simulator is."""
        import fcntl

        if serial in self._claims:
            return
        lock_path = Path(f"{self.path}.{quote(serial, safe='')}.lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = lock_path.open("ab")
        except OSError as exc:
            raise StateError(
                f"cannot use the simulator state file {self.path}: {exc.strerror or exc}; "
                "pass --state OTHER or --no-state"
            ) from None
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise StateError(
                f"another simulator is running as {serial} with the state file {self.path}; "
                "stop it, or pass --serial OTHER, --state OTHER or --no-state"
            ) from None
        self._claims[serial] = lock

    def release(self) -> None:
        """Give up every claim."""
        for lock in self._claims.values():
            lock.close()  # closing releases the flock
        self._claims.clear()

    def _error(self, what: str) -> StateError:
        return StateError(
            f"the simulator state file {self.path} {what}; remove it or pass --state OTHER / --no-state"
        )


def _identity(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_ino, st.st_mtime_ns, st.st_size


def _render(devices: dict[str, Any]) -> str:
    """The file's text: readable, one field and one buffer row a line."""
    entries = []
    for serial, entry in devices.items():
        fields = _saved_fields(entry) if isinstance(entry, SavedDevice) else entry
        if isinstance(fields, dict):
            lines = [f"      {json.dumps(key)}: {_render_value(key, value)}" for key, value in fields.items()]
            text = "{\n" + ",\n".join(lines) + "\n    }"
        else:  # another serial's entry, not an object: kept as it was read
            text = json.dumps(fields)
        entries.append(f"    {json.dumps(serial)}: {text}")
    body = ",\n".join(entries)
    return (
        "{\n"
        f'  "format": "{STATE_FORMAT}",\n'
        f'  "version": {STATE_VERSION},\n'
        '  "devices": {' + (f"\n{body}\n  " if body else "") + "}\n"
        "}\n"
    )


def _saved_fields(saved: SavedDevice) -> dict[str, Any]:
    state = saved.state
    return {
        "boot": state.boot,
        "last_seq": state.last_seq,
        "seq_reserved": saved.seq_reserved,
        "epoch": state.epoch,
        "clean": saved.clean,
        "saved_at": saved.saved_at,
        "buffer": state.buffer,
    }


def _render_value(key: str, value: Any) -> str:
    if key != "buffer" or not isinstance(value, list | tuple) or not value:
        return json.dumps(value)
    rows = ",\n".join(
        f"        [{s.boot}, {s.seq}, {s.device_time_ms}, {s.force_dn}, {s.contact_ms}, {s.zone}]"
        if isinstance(s, Stamp)
        else f"        {json.dumps(s)}"
        for s in value
    )
    return f"[\n{rows}\n      ]"


# --- how a run starts ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PowerUp:
    """How a run starts from its saved state."""

    #: The device's settings, with the boot, last_seq and epoch it powers up with.
    config: DeviceConfig
    #: The non-volatile memory to restore (None: the config's state, empty buffer).
    restore: PersistentState | None
    #: One line for the log: where the device starts, and why.
    note: str


def plan_power_up(config: DeviceConfig, saved: SavedDevice | None, where: str = "the state file") -> PowerUp:
    """Where a device with these settings starts, given its saved state.

    * ``boot`` or ``last_seq`` set (``--boot N``, or in a scenario): a wiped device, numbering
      afresh from there with a new epoch (``epoch`` if set) and an empty buffer.
    * Nothing saved: a new device (the config's boot and seq, a new epoch).
    * ``epoch`` set and different from the saved one: another numbering, afresh as above.
    * Otherwise a power cycle: boot + 1, seq from the saved ceiling, the same epoch and buffer.
    """
    serial = config.serial
    explicit = config.model_fields_set
    epoch = config.epoch if config.epoch is not None else new_epoch()
    afresh = config.model_copy(update={"epoch": epoch})
    start = f"boot {config.boot}, seq from {config.last_seq + 1}, epoch {epoch:#010x}, empty buffer"
    if "boot" in explicit or "last_seq" in explicit:
        given = " and ".join(f"{key} {getattr(config, key)}" for key in ("boot", "last_seq") if key in explicit)
        replaced = "; its saved state is replaced" if saved is not None else ""
        return PowerUp(afresh, None, f"{serial} starts as a wiped device ({given} given): {start}{replaced}")
    if saved is None:
        return PowerUp(afresh, None, f"{serial} is a new device (nothing saved for it): {start}")
    if config.epoch is not None and config.epoch != saved.state.epoch:
        return PowerUp(
            afresh,
            None,
            f"{serial} starts a new numbering (--epoch {config.epoch:#010x}, saved {saved.state.epoch:#010x}): "
            f"{start}; its saved state is replaced",
        )
    old = saved.state
    if len(old.buffer) > config.buffer_size:
        raise StateError(
            f"the saved state of {serial} in {where} holds {len(old.buffer)} unacknowledged stamps, more than "
            f"the buffer size {config.buffer_size}; pass --buffer-size {len(old.buffer)} or more, or start a "
            "wiped device with --boot 1"
        )
    boot = old.boot + 1 if old.boot < U16_MAX else 1
    last_seq = saved.next_last_seq
    state = PersistentState(boot, last_seq, old.epoch, old.buffer)
    resumed = config.model_copy(update={"boot": boot, "last_seq": last_seq, "epoch": old.epoch})
    note = (
        f"{serial} powers up again: boot {boot}, seq from {last_seq + 1}, epoch {old.epoch:#010x}, "
        f"{len(old.buffer)} unacknowledged stamps in the buffer"
    )
    if not saved.clean:
        note += (
            f" (the last run did not stop cleanly: its newest saved seq was {old.last_seq}, "
            f"the numbers up to its reservation {saved.seq_reserved} are skipped)"
        )
    return PowerUp(resumed, state, note)


# --- one run --------------------------------------------------------------------------


class DeviceMemory:
    """A device's non-volatile memory for one run: read at power-up, saved as the run goes.

    Use: ``memory = DeviceMemory(path, config)``; build the device from
    ``memory.power_up.config`` and restore ``memory.power_up.restore`` into it; then
    :meth:`start` before the first output, :meth:`before_output` before anything leaves
    the device (truth log, wire), :meth:`tick` now and then, :meth:`stop` at the end.
    """

    def __init__(self, path: Path, config: DeviceConfig) -> None:
        self.path = path
        self.serial = config.serial
        self.file = StateFile(path)
        self.file.claim(self.serial)
        try:
            self.power_up = plan_power_up(config, self.file.load(self.serial), str(path))
        except BaseException:
            self.file.release()
            raise
        #: No seq above this may leave the device before the next save.
        self.seq_reserved = -1
        self.saves = 0
        self._saved_boot = -1
        self._saved_key: tuple[int, int, int, int | None] | None = None
        self._block = SEQ_BLOCK
        self._reserved_at = -float("inf")
        self._next_save = 0.0
        self._stopped = False

    def start(self, device: Device) -> None:
        """The power-up: save the new boot and reserve the first block of seqs."""
        self._save(device, clean=False)

    def before_output(self, device: Device) -> None:
        """Save first if the device used a seq past the reservation, or booted again."""
        if device.last_seq > self.seq_reserved or device.boot != self._saved_boot:
            self._save(device, clean=False)

    def tick(self, device: Device) -> None:
        """Save if the seq or the buffer changed and the last save is long enough ago."""
        if time.monotonic() >= self._next_save and _key(device) != self._saved_key:
            self._save(device, clean=False)

    def stop(self, device: Device) -> None:
        """A clean stop: save the exact seq (nothing reserved past it) and let the serial go."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self._save(device, clean=True)
        finally:
            self.file.release()

    def release(self) -> None:
        """Let the serial go without saving (a run that never started)."""
        self._stopped = True
        self.file.release()

    def _save(self, device: Device, *, clean: bool) -> None:
        state = device.export_state()
        if clean:
            reserved = state.last_seq
        elif state.last_seq > self.seq_reserved or self._saved_key is None:
            reserved = state.last_seq + self._next_block()
        else:
            reserved = self.seq_reserved
        saved_at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        began = time.monotonic()
        self.file.save(self.serial, SavedDevice(state, reserved, clean, saved_at))
        took = time.monotonic() - began
        self.saves += 1
        self.seq_reserved = reserved
        self._saved_boot = state.boot
        self._saved_key = _key(device)
        self._next_save = began + max(SAVE_INTERVAL, took / SAVE_SHARE)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "state saved (%.1f ms): boot %d, seq %d, reserved to %d, %d buffered%s",
                took * 1000, state.boot, state.last_seq, reserved, len(state.buffer), ", clean" if clean else "",
            )

    def _next_block(self) -> int:
        now = time.monotonic()
        if now - self._reserved_at < FAST_BLOCK_S:
            self._block = min(self._block * 2, MAX_SEQ_BLOCK)
        else:
            self._block = SEQ_BLOCK
        self._reserved_at = now
        return self._block


def _key(device: Device) -> tuple[int, int, int, int | None]:
    """What changes when the non-volatile memory does: boot, seq, and the buffer's ends."""
    buffer = device.buffer
    return device.boot, device.last_seq, len(buffer), buffer.first_seq
