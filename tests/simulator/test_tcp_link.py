"""The in-process simulator over TCP (what pyserial's socket:// talks to)."""

from __future__ import annotations

import socket

import pytest

from stampside.firmware_protocol import Ack, Arm, MessageType, NackCode, Ping, Resume, ResumeReply, Stamp
from stampside.simulator.errors import TransportError
from stampside.simulator.runner import Simulator
from tests.simulator.conftest import SimFactory, config
from tests.simulator.rawhost import RawHost

LOCAL = {"listen": "127.0.0.1:0"}


async def connect(sim: Simulator, hosts: list[RawHost]) -> RawHost:
    host = await RawHost.open_tcp(sim.endpoint)
    hosts.append(host)
    return host


async def test_serves_tcp_with_a_ready_line_and_a_socket_url(make_sim: SimFactory, hosts: list[RawHost]) -> None:
    sim = await make_sim(link=LOCAL, stamping={"rate": 500})
    port = int(sim.endpoint.rpartition(":")[2])
    assert port > 0
    assert sim.ready_line == f"listen 127.0.0.1:{port}"
    assert sim.url == f"socket://127.0.0.1:{port}"
    host = await connect(sim, hosts)
    info = (await host.handshake()).message
    assert info.selected_version == 1  # type: ignore[attr-defined]
    host.send(Arm())
    await host.wait_until(lambda: len(host.frames(MessageType.STAMP)) >= 20)
    seqs = [f.message.seq for f in host.frames(MessageType.STAMP) if isinstance(f.message, Stamp)]
    assert seqs[:20] == list(range(1, 21))
    host.send(Ack(1, 20))
    await sim.wait_until(lambda: sim.device.buffer.first_seq is None or sim.device.buffer.first_seq > 20)


async def test_a_new_client_replaces_the_old_one(make_sim: SimFactory, hosts: list[RawHost]) -> None:
    sim = await make_sim(link=LOCAL, device={"armed": True}, stamping={"rate": 1000, "stamps": 30})
    first = await connect(sim, hosts)
    await first.handshake()
    await sim.wait_stamps(30)
    second = await connect(sim, hosts)
    await first.wait_until(lambda: first.eof)
    # A new link session: HELLO first.
    second.send(Ping(1))
    nack = await second.expect(MessageType.NACK)
    assert nack.message.code == NackCode.NOT_READY  # type: ignore[attr-defined]
    await second.handshake()
    second.send(Resume(0, 0))
    assert (await second.expect(MessageType.RESUME_REPLY)).message == ResumeReply(1, 1, 30)
    assert sim.stats().connections == 2


async def test_a_close_mode_drop_closes_the_connection_and_turns_clients_away(
    make_sim: SimFactory, hosts: list[RawHost]
) -> None:
    sim = await make_sim(link=LOCAL, device={"armed": True}, stamping={"rate": 1000})
    host = await connect(sim, hosts)
    await host.handshake()
    sim.drop(60, mode="close")
    await host.wait_until(lambda: host.eof)
    await sim.wait_stamps(sim.device.counters.stamps_counted + 20)  # stamping goes on
    # While the drop lasts, a new connection is accepted and closed at once.
    refused = await connect(sim, hosts)
    await refused.wait_until(lambda: refused.eof)
    assert sim.transport.stats.refused == 1
    sim.end_drop()
    again = await connect(sim, hosts)
    await again.handshake()
    again.send(Resume(0, 0))
    reply = (await again.expect(MessageType.RESUME_REPLY)).message
    assert reply.count == sim.device.pending  # type: ignore[attr-defined]


async def test_port_in_use_is_a_clear_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as blocker:
        port = blocker.getsockname()[1]
        sim = Simulator(config(link={"listen": f"127.0.0.1:{port}"}))
        with pytest.raises(TransportError, match=rf"^cannot listen on 127.0.0.1:{port}: .*in use"):
            await sim.start()
        await sim.stop()
