"""Link faults: drops, line noise, truncated and duplicated frames.

:class:`LinkFaults` sits between the device and the transport and damages the byte
stream on purpose. It is pure like the device: the caller passes ``now``.

* A **drop** discards every byte in both directions until it ends. Drops repeat on a
  schedule (``drop_every``/``drop_for``, the first one ``drop_every`` seconds after the
  start) or happen on demand. Whether a drop also closes a TCP connection is the caller's
  business (:attr:`LinkFaults.drop_mode`).
* **Corruption** flips one random bit of a byte with the given probability, in both
  directions. It draws the gap to the next damaged byte rather than a number per byte, so
  it costs next to nothing at low rates.
* **Truncation** cuts an outgoing frame short, delimiter included; the receiver usually
  loses the next frame too, since the stub runs into it.
* **Duplication** sends an outgoing frame twice in a row.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass

from stampside.simulator.config import FaultConfig


@dataclass(slots=True)
class FaultStats:
    drops: int = 0
    bytes_dropped_out: int = 0
    bytes_dropped_in: int = 0
    bytes_corrupted_out: int = 0
    bytes_corrupted_in: int = 0
    frames_truncated: int = 0
    frames_duplicated: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class LineNoise:
    """Flips one random bit in each byte with probability ``rate``; state carries across calls."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._rate = 0.0
        self._clean = 0  # clean bytes before the next damaged one

    def apply(self, data: bytes, rate: float) -> tuple[bytes, int]:
        """``data`` with noise added, and how many bytes were damaged."""
        if rate <= 0.0 or not data:
            return data, 0
        if rate != self._rate:
            self._rate = rate
            self._clean = self._draw()
        n = len(data)
        if self._clean >= n:
            self._clean -= n
            return data, 0
        buf = bytearray(data)
        pos = self._clean
        damaged = 0
        randrange = self._rng.randrange
        while pos < n:
            buf[pos] ^= 1 << randrange(8)
            damaged += 1
            pos += 1 + self._draw()
        self._clean = pos - n
        return bytes(buf), damaged

    def _draw(self) -> int:
        """Clean bytes before the next damaged one: geometric with parameter ``rate``."""
        if self._rate >= 1.0:
            return 0
        return int(math.log(1.0 - self._rng.random()) / math.log1p(-self._rate))


class LinkFaults:
    def __init__(self, config: FaultConfig | None = None, seed: int = 0, now: float = 0.0) -> None:
        self.config = config = config or FaultConfig()
        self._frames_rng = random.Random(f"faults-frames:{seed}")
        self._noise_out = LineNoise(random.Random(f"faults-noise-out:{seed}"))
        self._noise_in = LineNoise(random.Random(f"faults-noise-in:{seed}"))
        self._drop_until = -math.inf
        #: Mode of the current (or last) drop.
        self.drop_mode = config.drop_mode
        self._next_drop = now + config.drop_every if config.drop_every is not None else None
        self._burst_rate = 0.0
        self._burst_until = -math.inf
        self.stats = FaultStats()

    # -- drops -----------------------------------------------------------------------

    def update(self, now: float) -> bool:
        """Start the scheduled drop if it is due; True if one started."""
        every = self.config.drop_every
        if self._next_drop is None or every is None or now < self._next_drop:
            return False
        start = self._next_drop
        while self._next_drop <= now:
            self._next_drop += every
        self.drop(self.config.drop_for, start)
        return self.dropping(now)

    def drop(self, seconds: float, now: float, mode: str | None = None) -> None:
        """Discard every byte, both ways, from ``now`` for ``seconds``."""
        self._drop_until = max(self._drop_until, now + seconds)
        self.drop_mode = "close" if (mode or self.config.drop_mode) == "close" else "silent"
        self.stats.drops += 1

    def end_drop(self) -> None:
        """End the current drop now."""
        self._drop_until = -math.inf

    def dropping(self, now: float) -> bool:
        return now < self._drop_until

    def next_change(self, now: float) -> float | None:
        """The next time a drop or a noise burst starts or ends (None: nothing scheduled)."""
        times = [t for t in (self._next_drop, self._drop_until, self._burst_until) if t is not None and t > now]
        return min(times) if times else None

    # -- noise -----------------------------------------------------------------------

    def corrupt_burst(self, rate: float, seconds: float, now: float) -> None:
        """Raise the byte-flip rate to ``rate`` for ``seconds``."""
        self._burst_rate = rate
        self._burst_until = now + seconds

    def corrupt_rate(self, now: float) -> float:
        base = self.config.corrupt
        return max(base, self._burst_rate) if now < self._burst_until else base

    # -- the byte streams ------------------------------------------------------------

    def outgoing(self, frames: list[bytes], now: float) -> bytes:
        """Device → host: the bytes to write for ``frames`` (possibly none)."""
        if not frames:
            return b""
        stats = self.stats
        if now < self._drop_until:
            stats.bytes_dropped_out += sum(map(len, frames))
            return b""
        config = self.config
        if config.truncate or config.duplicate:
            frames = self._mangle(frames)
        data = b"".join(frames)
        rate = self.corrupt_rate(now)
        if rate:
            data, damaged = self._noise_out.apply(data, rate)
            stats.bytes_corrupted_out += damaged
        return data

    def incoming(self, data: bytes, now: float) -> bytes:
        """Host → device: the bytes the device gets for ``data`` (possibly none)."""
        if now < self._drop_until:
            self.stats.bytes_dropped_in += len(data)
            return b""
        rate = self.corrupt_rate(now)
        if rate:
            data, damaged = self._noise_in.apply(data, rate)
            self.stats.bytes_corrupted_in += damaged
        return data

    def _mangle(self, frames: list[bytes]) -> list[bytes]:
        truncate = self.config.truncate
        duplicate = self.config.duplicate
        rng = self._frames_rng
        stats = self.stats
        out: list[bytes] = []
        for frame in frames:
            if truncate and len(frame) > 1 and rng.random() < truncate:
                out.append(frame[: rng.randrange(1, len(frame))])
                stats.frames_truncated += 1
            elif duplicate and rng.random() < duplicate:
                out.append(frame)
                out.append(frame)
                stats.frames_duplicated += 1
            else:
                out.append(frame)
        return out
