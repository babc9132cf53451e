"""Shared pieces of the BLE tests: a simulator on the virtual link, a database, the truth check."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stampside.app.storage import Database, iter_export_rows, open_database
from stampside.devicelink.session import LinkOptions
from stampside.simulator.config import SimConfig
from stampside.simulator.runner import Simulator

#: Quick to notice a loss and to come back, as QA runs it (the defaults are for a clinic).
FAST = LinkOptions(link_timeout=0.6, reply_timeout=0.2, backoff_initial=0.05, backoff_max=0.3, ping_interval=0)


def ble_config(**sections: Any) -> SimConfig:
    """A simulator on the virtual BLE link, its app controller served on a free TCP port."""
    ble = {"hci": "virtual", "hci_serve": "tcp-server:127.0.0.1:0", **sections.pop("ble", {})}
    return SimConfig.model_validate({"seed": 1, "ble": ble, **sections})


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = open_database(f"sqlite:///{tmp_path / 'stamps.db'}")
    yield db
    db.close()


@pytest.fixture
async def ble_sim() -> AsyncIterator[Callable[..., Simulator]]:
    made: list[Simulator] = []

    def make(config: SimConfig | None = None, **sections: Any) -> Simulator:
        sim = Simulator(config or ble_config(**sections))
        made.append(sim)
        return sim

    yield make
    for sim in made:
        await sim.stop()


def stored_rows(database: Database) -> list[tuple[int, int, int, int, int, int]]:
    """(boot, seq, device_time_ms, force in 0.1 N, contact_ms, zone) of every stored stamp."""
    with database.Session.begin() as session:
        return [
            (r.boot, r.seq, r.device_time_ms, round(r.force * 10), r.contact_ms, r.zone)
            for r in iter_export_rows(session)
        ]


def truth_rows(sim: Simulator) -> list[tuple[int, int, int, int, int, int]]:
    return [(s.boot, s.seq, s.device_time_ms, s.force_dn, s.contact_ms, s.zone) for s in sim.truth]
