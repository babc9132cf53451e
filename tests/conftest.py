"""Suite-wide settings: long soak runs are skipped unless STAMPSIDE_SOAK=1."""

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
