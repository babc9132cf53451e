"""What the host knows of the device, read off the link session's host machine."""

from __future__ import annotations

from stampside.firmware_protocol import Battery, DeviceInfo, Fault, HeadChanged, Heartbeat, TimeSyncReply
from stampside.firmware_protocol.host import HostConnection


class HostFacts:
    """The device as the host machine last heard of it (a mixin of
    :class:`~stampside.devicelink.session.LinkSession`)."""

    host: HostConnection

    @property
    def device(self) -> DeviceInfo | None:
        """DEVICE_INFO from the last handshake."""
        return self.host.device

    @property
    def armed(self) -> bool | None:
        """Whether the device counts stamps, as it last said (None: not known yet)."""
        return self.host.armed

    @property
    def battery(self) -> Battery | None:
        return self.host.battery

    @property
    def head(self) -> HeadChanged | None:
        return self.host.head

    @property
    def last_fault(self) -> Fault | None:
        return self.host.last_fault

    @property
    def last_time_sync(self) -> TimeSyncReply | None:
        return self.host.last_time_sync

    @property
    def device_heartbeat(self) -> Heartbeat | None:
        return self.host.device_heartbeat

    @property
    def last_stamp_at(self) -> float | None:
        """When the last new stamp arrived (``time.monotonic()``), or None."""
        return self.host.last_stamp_at

    @property
    def want_armed(self) -> bool | None:
        """True: the device must count (armed after every handshake); False: it must not
        (disarmed after every handshake); None: left as it is (a monitor)."""
        return self.host.want_armed
