"""Optional parts of Stampside and the one line that says how to get them.

Bluetooth LE (bleak, bleak-retry-connector and bumble's host stack) is the extra ``ble``:
a serial-only clinic, reports and exports need none of it. Importing the BLE transport
without it (in a :func:`needs_extra` block) raises :class:`ExtraMissing`, a
:class:`~stampside.devicelink.transport.TransportOpenError` whose message says which extra to
install, so every caller that already shows a transport error in one line shows this one too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from stampside.devicelink.transport import TransportOpenError

__all__ = ["BLE_MODULES", "PDF_MODULES", "ExtraMissing", "missing_extra", "needs_extra"]

#: Top-level modules the ``ble`` extra installs.
BLE_MODULES = frozenset({"bleak", "bleak_retry_connector", "bumble"})
#: The ``pdf`` extra's.
PDF_MODULES = frozenset({"weasyprint"})

_WHAT = {"ble": "Bluetooth LE", "pdf": "PDF output"}


class ExtraMissing(TransportOpenError):
    """An optional part of Stampside is not installed; the message names the extra."""

    def __init__(self, extra: str) -> None:
        self.extra = extra
        what = _WHAT.get(extra, extra)
        super().__init__(f"{what} needs Stampside's '{extra}' extra: pip install 'stampside[{extra}]'")


def missing_extra(exc: ImportError) -> str | None:
    """The extra that would have installed the module ``exc`` could not import; None: not ours."""
    name = (getattr(exc, "name", None) or "").split(".")[0]
    if name in BLE_MODULES:
        return "ble"
    if name in PDF_MODULES:
        return "pdf"
    return None


@contextmanager
def needs_extra(extra: str) -> Iterator[None]:
    """Imports in this block that fail for want of ``extra`` raise :class:`ExtraMissing`.

    ``with needs_extra("ble"): from stampside.devicelink.ble_transport import BleTransport``
    """
    try:
        yield
    except ImportError as exc:
        if missing_extra(exc) == extra:
            raise ExtraMissing(extra) from None
        raise
