"""The in-process simulator over a real pty, driven by a raw host."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stampside.firmware_protocol import (
    Ack,
    Arm,
    ArmReason,
    ArmState,
    Fault,
    FaultCode,
    Flag,
    Frame,
    Heartbeat,
    MessageType,
    Nack,
    NackCode,
    Ping,
    Resume,
    ResumeReply,
    Stamp,
)
from stampside.simulator.runner import Simulator
from stampside.simulator.truth import TRUTH_KEYS, read_truth
from tests.simulator.conftest import SimFactory, config
from tests.simulator.rawhost import RawHost


async def connect(sim: Simulator, hosts: list[RawHost], versions: tuple[int, int] = (1, 1)) -> RawHost:
    host = await RawHost.open_pty(sim.url, versions)
    hosts.append(host)
    return host


def stamp_seqs(frames: list[Frame], replay: bool | None = None) -> list[int]:
    out = []
    for f in frames:
        if isinstance(f.message, Stamp) and (replay is None or f.replay == replay):
            out.append(f.message.seq)
    return out


async def test_handshake_over_a_pty(make_sim: SimFactory, hosts: list[RawHost]) -> None:
    sim = await make_sim(device={"serial": "SS-PTY", "needle_um": 1800})
    assert sim.ready_line == f"pty {sim.endpoint}"
    host = await connect(sim, hosts)
    info: Any = (await host.handshake()).message
    assert (info.serial, info.needle_um, info.selected_version, info.boot) == ("SS-PTY", 1800, 1, 1)


async def test_incompatible_host_gets_selected_zero_and_a_nack(make_sim: SimFactory, hosts: list[RawHost]) -> None:
    sim = await make_sim(device={"versions": [2, 3]}, stamping={"rate": 500})
    host = await connect(sim, hosts)
    info: Any = (await host.handshake()).message
    assert info.selected_version == 0 and (info.min_version, info.max_version) == (2, 3)
    nack = await host.expect(MessageType.NACK)
    assert nack.message == Nack(MessageType.HELLO, 0, NackCode.VERSION_UNSUPPORTED)
    host.send(Arm())
    assert (await host.expect(MessageType.NACK)).message.code == NackCode.VERSION_UNSUPPORTED  # type: ignore[attr-defined]
    assert not sim.device.armed


async def test_armed_stamps_arrive_live_with_growing_seq(make_sim: SimFactory, hosts: list[RawHost]) -> None:
    sim = await make_sim(stamping={"rate": 500})
    host = await connect(sim, hosts)
    await host.handshake()
    host.send(Arm())
    assert (await host.expect(MessageType.ARM_STATE)).message == ArmState(1, ArmReason.COMMAND)
    await host.wait_until(lambda: len(host.frames(MessageType.STAMP)) >= 50)
    seqs = stamp_seqs(host.frames())
    assert seqs[:50] == list(range(1, 51))
    # What arrived live is exactly what the device counted.
    live = [f.message for f in host.frames(MessageType.STAMP)]
    assert live == sim.truth[: len(live)]


async def test_ack_drops_events_and_resume_replays_the_rest(make_sim: SimFactory, hosts: list[RawHost]) -> None:
    sim = await make_sim(device={"armed": True}, stamping={"rate": 1000, "stamps": 40})
    await sim.wait_stamps(40)
    host = await connect(sim, hosts)
    await host.handshake()
    host.send(Ack(1, 10))
    await sim.wait_until(lambda: sim.device.pending == 30)
    host.send(Resume(1, 15))
    reply = await host.expect(MessageType.RESUME_REPLY)
    assert reply.message == ResumeReply(1, 16, 25)
    await host.wait_until(lambda: len(stamp_seqs(host.frames(), replay=True)) >= 25)
    assert stamp_seqs(host.frames(), replay=True) == list(range(16, 41))
    assert sim.device.pending == 25
    # Everything acknowledged: an empty replay that names the next seq.
    host.send(Resume(1, 40))
    assert (await host.expect(MessageType.RESUME_REPLY)).message == ResumeReply(1, 41, 0)


async def test_a_large_replay_is_paced_by_the_pty_and_arrives_whole(
    make_sim: SimFactory, hosts: list[RawHost]
) -> None:
    sim = await make_sim(device={"armed": True, "buffer_size": 10_000}, stamping={"rate": 50_000, "stamps": 5000})
    await sim.wait_stamps(5000)
    host = await connect(sim, hosts)
    await host.handshake()
    host.send(Resume(0, 0))
    await host.wait_until(lambda: len(stamp_seqs(host.frames(), replay=True)) >= 5000, timeout=20)
    assert stamp_seqs(host.frames(), replay=True) == list(range(1, 5001))
    assert sim.stats().bytes_dropped_full == 0


async def test_reboot_keeps_buffer_and_seq_and_announces(make_sim: SimFactory, hosts: list[RawHost]) -> None:
    sim = await make_sim(device={"armed": True}, stamping={"rate": 1000, "stamps": 30})
    await sim.wait_stamps(30)
    host = await connect(sim, hosts)
    await host.handshake()
    host.skip()
    sim.reboot()
    announce = await host.expect(MessageType.DEVICE_INFO)
    info: Any = announce.message
    assert announce.flags & Flag.ANNOUNCE
    assert (info.boot, info.last_seq) == (2, 30)
    assert sim.device.pending == 30 and not sim.device.armed
    # A new handshake; the device says why it is disarmed.
    await host.handshake()
    assert (await host.expect(MessageType.ARM_STATE)).message == ArmState(0, ArmReason.BOOT)
    assert (await host.expect(MessageType.FAULT)).message == Fault(FaultCode.UNEXPECTED_REBOOT, 2)
    host.send(Resume(0, 0))
    assert (await host.expect(MessageType.RESUME_REPLY)).message == ResumeReply(1, 1, 30)


async def test_reboot_every_n_stamps_keeps_numbering(make_sim: SimFactory, hosts: list[RawHost]) -> None:
    sim = await make_sim(device={"armed": True}, stamping={"rate": 1000}, faults={"reboot_every": 10})
    await sim.wait_stamps(10)
    await sim.wait_until(lambda: sim.device.online and sim.device.boot == 2)
    assert sim.device.last_seq == 10 and not sim.device.armed
    assert sim.arm()
    await sim.wait_stamps(20)
    await sim.wait_until(lambda: sim.device.boot == 3)
    assert [(s.boot, s.seq) for s in sim.truth] == [(1, i) for i in range(1, 11)] + [(2, i) for i in range(11, 21)]


async def test_full_buffer_faults_disarms_and_never_overwrites(make_sim: SimFactory, hosts: list[RawHost]) -> None:
    sim = await make_sim(device={"buffer_size": 20}, stamping={"rate": 2000})
    host = await connect(sim, hosts)
    await host.handshake()
    host.send(Arm())
    fault = await host.expect(MessageType.FAULT)
    assert fault.message == Fault(FaultCode.BUFFER_FULL, 1)
    assert ArmState(0, ArmReason.BUFFER_FULL) in [f.message for f in host.frames(MessageType.ARM_STATE)]
    assert [s.seq for s in sim.device.buffer] == list(range(1, 21))
    assert sim.stats().stamps_counted == 20 and len(sim.truth) == 20
    host.send(Arm())
    assert (await host.expect(MessageType.NACK)).message.code == NackCode.REFUSED  # type: ignore[attr-defined]
    host.send(Ack(1, 20))
    host.send(Arm())
    await host.expect(MessageType.ARM_STATE, lambda f: f.message == ArmState(1, ArmReason.COMMAND))
    await host.wait_until(lambda: 21 in stamp_seqs(host.frames()))


async def test_a_drop_discards_both_directions(make_sim: SimFactory, hosts: list[RawHost]) -> None:
    sim = await make_sim(device={"host_timeout": 30}, stamping={"rate": 1000})
    host = await connect(sim, hosts)
    await host.handshake()
    host.send(Arm())
    await host.wait_until(lambda: len(host.frames(MessageType.STAMP)) >= 5)
    sim.drop(60)
    dropped_at = sim.device.last_seq
    host.send(Ping(1))
    await sim.wait_until(lambda: sim.stats().bytes_dropped_in > 0)
    await sim.wait_until(lambda: sim.device.last_seq > dropped_at + 50)
    assert sim.device.counters.commands.get("PING", 0) == 0
    assert sim.stats().bytes_dropped_out > 0
    received = set(stamp_seqs(host.frames()))
    assert not received & set(range(dropped_at + 2, dropped_at + 50))
    # The link comes back: commands work, live stamps resume, the gap is replayed on request.
    sim.end_drop()
    host.send(Ping(2))
    pong = await host.expect(MessageType.PONG)
    assert pong.message.nonce == 2  # type: ignore[attr-defined]
    host.send(Resume(0, 0))
    await host.wait_until(lambda: set(range(1, dropped_at + 50)) <= set(stamp_seqs(host.frames())))


async def test_without_host_frames_the_device_goes_quiet(make_sim: SimFactory, hosts: list[RawHost]) -> None:
    sim = await make_sim(device={"host_timeout": 0.2, "armed": True}, stamping={"rate": 500})
    host = await connect(sim, hosts)
    await host.handshake()
    await sim.wait_until(lambda: not sim.device.host_present)
    sent = sim.stats().frames_sent
    counted = sim.stats().stamps_counted
    await sim.wait_stamps(counted + 100)
    assert sim.stats().frames_sent == sent
    host.send(Heartbeat(0, 0, 0, 0))
    await host.wait_until(lambda: max(stamp_seqs(host.frames())) > counted + 100)


async def test_truth_log_has_one_line_per_counted_stamp(make_sim: SimFactory, tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    sim = await make_sim(truth=str(truth), device={"armed": True}, stamping={"rate": 2000, "stamps": 300})
    await sim.wait_stamps(300)
    await sim.stop()
    lines = truth.read_text().splitlines()
    assert len(lines) == 300
    records = [json.loads(line) for line in lines]
    assert all(tuple(r) == TRUTH_KEYS for r in records)
    assert all(isinstance(r["force"], float) for r in records)
    assert records == [
        {"boot": s.boot, "seq": s.seq, "device_time_ms": s.device_time_ms, "force": s.force_dn / 10,
         "contact_ms": s.contact_ms, "zone": s.zone}
        for s in sim.truth
    ]
    assert read_truth(truth) == records


@pytest.mark.parametrize("scenario", [{}, {"faults": {"reboot_every": 50}}])
async def test_same_seed_same_truth_log(tmp_path: Path, scenario: dict[str, Any]) -> None:
    async def run(seed: int, name: str) -> list[dict[str, Any]]:
        path = tmp_path / name
        cfg = config(seed=seed, truth=str(path), device={"armed": True},
                     stamping={"rate": 5000, "stamps": 400, "zones": "walk"}, **scenario)
        async with Simulator(cfg) as sim:
            await sim.wait_stamps(50 if scenario else 400)
        return read_truth(path)

    first = await run(11, "a.jsonl")
    assert first == await run(11, "b.jsonl")
    assert first != await run(12, "c.jsonl")


async def test_flood_rate_keeps_up_with_several_stamps_per_tick(make_sim: SimFactory, hosts: list[RawHost]) -> None:
    sim = await make_sim(device={"buffer_size": 100_000}, stamping={"rate": 20_000, "stamps": 4000})
    host = await connect(sim, hosts)
    await host.handshake()
    host.send(Arm())
    await sim.wait_stamps(4000)
    await host.wait_until(lambda: len(host.frames(MessageType.STAMP)) >= 4000 - sim.stats().bytes_dropped_full // 20)
    host.send(Resume(0, 0))
    await host.wait_until(lambda: set(stamp_seqs(host.frames())) >= set(range(1, 4001)), timeout=20)


async def test_pty_link_is_created_replaced_and_removed(tmp_path: Path) -> None:
    link = tmp_path / "stamp"
    link.symlink_to("/nonexistent/stale")
    sim = Simulator(config(link={"pty": str(link)}))
    path = await sim.start()
    assert link.resolve() == Path(path).resolve()
    assert sim.ready_line == f"pty {path} -> {link}"
    await sim.stop()
    assert not link.exists() and not link.is_symlink()


async def test_baud_limit_drops_a_flood_but_paces_a_replay(make_sim: SimFactory, hosts: list[RawHost]) -> None:
    sim = await make_sim(link={"baud": 115_200}, stamping={"rate": 5000, "stamps": 300})
    host = await connect(sim, hosts)
    await host.handshake()
    host.send(Arm())
    await sim.wait_stamps(300)
    # 5000 stamps/s is 100 kB/s; 115200 baud carries 11.5 kB/s: most live frames cannot go out.
    await sim.wait_until(lambda: sim.stats().bytes_dropped_full > 0)
    host.send(Resume(0, 0))
    await host.wait_until(lambda: set(stamp_seqs(host.frames(), replay=True)) >= set(range(1, 301)), timeout=15)
