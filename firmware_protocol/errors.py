"""Exceptions raised by the protocol package.

Wire data never raises: bad frames become :class:`~stampside.firmware_protocol.framing.BadFrame`
events. These exceptions are for programming errors on the sending side and for a
failed version negotiation, which the caller must report to a person.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base class for every error this package raises."""


class EncodeError(ProtocolError):
    """A message could not be encoded (a field is out of range for its wire type)."""


class IncompatibleVersion(ProtocolError):
    """The host and the device share no protocol version."""

    def __init__(self, host_range: tuple[int, int], device_range: tuple[int, int]) -> None:
        self.host_range = host_range
        self.device_range = device_range
        super().__init__(
            f"incompatible protocol versions: the device speaks v{device_range[0]}–v{device_range[1]}, "
            f"this host speaks v{host_range[0]}–v{host_range[1]}; "
            "update the device firmware or Stampside so the ranges overlap"
        )


class HandshakeError(ProtocolError):
    """The device answered the handshake in a way no retry can fix (it negotiates wrongly)."""
