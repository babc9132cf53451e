"""Suite-wide settings: long soak runs are skipped unless STAMPSIDE_SOAK=1, and every test has
its own user state folder."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("STAMPSIDE_SOAK") == "1":
        return
    skip = pytest.mark.skip(reason="soak run: set STAMPSIDE_SOAK=1 (bench/ carries the long figures)")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def own_user_state_folder(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Point the user state folder at a folder of this test's own (subprocesses inherit it).

    ``stampside sim`` keeps the simulated device's boot counter, seq and buffer there between
    runs: without this, every test starting a simulator with the default serial would power
    up the device the previous test left behind (platformdirs honours XDG_STATE_HOME on Linux).
    """
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
