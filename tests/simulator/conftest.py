from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from stampside.simulator.config import SimConfig
from stampside.simulator.runner import Simulator
from stampside.simulator.scenario import build_config
from tests.simulator.rawhost import RawHost

SimFactory = Callable[..., Awaitable[Simulator]]


def config(**sections: Any) -> SimConfig:
    """A SimConfig from nested dicts, with a fast reboot for tests: config(device={...}, stamping={...})."""
    data: dict[str, Any] = {"seed": 1, **sections}
    data["device"] = {"reboot_silence": 0.05, **sections.get("device", {})}
    return build_config(data)


@pytest.fixture
async def make_sim() -> AsyncIterator[SimFactory]:
    """Start simulators (stopped at the end of the test)."""
    sims: list[Simulator] = []

    async def make(**sections: Any) -> Simulator:
        sim = Simulator(config(**sections))
        sims.append(sim)
        await sim.start()
        return sim

    yield make
    for sim in sims:
        await sim.stop()


@pytest.fixture
async def hosts() -> AsyncIterator[list[RawHost]]:
    """Register raw hosts here to have them closed after the test."""
    opened: list[RawHost] = []
    yield opened
    for host in opened:
        host.close()
