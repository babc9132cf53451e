"""Codec benchmark: frames per second through the encoder and the decoder.

Usage: python bench/codec.py [--frames N]

Prints encode and decode rates for STAMP frames (the hot path), fed in 4 KiB chunks as a
serial port would deliver them, and, when pymavlink is installed, the rate of pymavlink's
pure-Python parser over the same number of bytes (the issue's reference).
"""

from __future__ import annotations

import argparse
import os
import time

from stampside.firmware_protocol import Connection, Frame, Heartbeat, Role, Stamp


def _best(fn, repeats: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_stampside(n: int) -> tuple[float, float, bytes]:
    messages = [Stamp(1, i, i * 350, 40 + i % 60, 150 + i % 90, i % 6) for i in range(1, n + 1)]
    for i in range(0, n, 50):
        messages[i] = Heartbeat(1, i, 3, 1)  # type: ignore[call-overload]
    device = Connection(Role.DEVICE)
    enc_time = _best(lambda: device.send_many(messages))  # type: ignore[arg-type]
    data = device.send_many(messages)  # type: ignore[arg-type]
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]

    def decode() -> None:
        host = Connection(Role.HOST)
        count = 0
        for chunk in chunks:
            count += len(host.receive_data(chunk))
        assert count == n, count

    dec_time = _best(decode)
    host = Connection(Role.HOST)
    events = [e for c in chunks for e in host.receive_data(c)]
    assert all(isinstance(e, Frame) for e in events)
    return n / enc_time, n / dec_time, data


def bench_pymavlink(nbytes: int) -> tuple[int, float] | None:
    os.environ.setdefault("MAVLINK20", "1")
    try:
        from pymavlink.dialects.v20 import common as mavlink
    except ImportError:
        return None

    class _Sink:
        def write(self, data: bytes) -> None:
            pass

    mav = mavlink.MAVLink(_Sink(), srcSystem=1, srcComponent=1)
    msgs = bytearray()
    i = 0
    while len(msgs) < nbytes:
        msgs += mav.heartbeat_encode(2, 3, 0, 0, 4).pack(mav)
        msgs += mav.attitude_encode(i, 0.1, 0.2, 0.3, 0.01, 0.02, 0.03).pack(mav)
        i += 1
    data = bytes(msgs)
    chunks = [data[k : k + 4096] for k in range(0, len(data), 4096)]
    count = 0

    def parse() -> None:
        nonlocal count
        parser = mavlink.MAVLink(_Sink())
        parser.robust_parsing = True
        count = 0
        for chunk in chunks:
            out = parser.parse_buffer(chunk)
            if out:
                count += len(out)

    elapsed = _best(parse)
    return count, count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=200_000)
    args = parser.parse_args()
    enc, dec, data = bench_stampside(args.frames)
    print(f"stampside encode: {enc:,.0f} frames/s")
    print(f"stampside decode: {dec:,.0f} frames/s  ({len(data):,} bytes, {len(data) / args.frames:.1f} B/frame)")
    ref = bench_pymavlink(len(data))
    if ref is None:
        print("pymavlink: not installed (pip install pymavlink) - reference skipped")
    else:
        count, rate = ref
        print(f"pymavlink parse:  {rate:,.0f} messages/s over the same {len(data):,} bytes ({count:,} messages)")
        print(f"decode / pymavlink: {dec / rate:.2f}x  (target >= 2x)")
    print(f"target: decode >= 130,000 frames/s -> {'MET' if dec >= 130_000 else 'MISSED'}")


if __name__ == "__main__":
    main()
