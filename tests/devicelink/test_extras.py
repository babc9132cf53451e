"""A missing optional part is one line naming the extra (the wheel test runs it without them for real)."""

from __future__ import annotations

import pytest

from stampside.devicelink.extras import ExtraMissing, missing_extra, needs_extra
from stampside.devicelink.transport import TransportOpenError


def test_the_modules_of_an_extra_are_known_by_their_top_level_name() -> None:
    assert missing_extra(ModuleNotFoundError(name="bleak")) == "ble"
    assert missing_extra(ModuleNotFoundError(name="bumble.transport")) == "ble"
    assert missing_extra(ModuleNotFoundError(name="bleak_retry_connector")) == "ble"
    assert missing_extra(ModuleNotFoundError(name="weasyprint")) == "pdf"
    assert missing_extra(ModuleNotFoundError(name="sqlalchemy")) is None
    assert missing_extra(ImportError("no name")) is None


def test_a_failed_import_of_the_extra_becomes_a_transport_error_that_says_what_to_install() -> None:
    with pytest.raises(ExtraMissing) as raised, needs_extra("ble"):
        raise ModuleNotFoundError("No module named 'bumble'", name="bumble")
    assert isinstance(raised.value, TransportOpenError)
    assert str(raised.value) == "Bluetooth LE needs Stampside's 'ble' extra: pip install 'stampside[ble]'"


def test_any_other_import_error_is_left_alone() -> None:
    with pytest.raises(ModuleNotFoundError), needs_extra("ble"):
        raise ModuleNotFoundError("No module named 'sqlalchemy'", name="sqlalchemy")
    with pytest.raises(ModuleNotFoundError), needs_extra("pdf"):
        raise ModuleNotFoundError("No module named 'bleak'", name="bleak")
