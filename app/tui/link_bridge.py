"""The app's link to the stamp: one :class:`~stampside.devicelink.session.LinkSession`, forwarded to a
screen as messages.

The screens hold no link ("attributes down, messages up"). A :class:`LinkBridge` owns the
session for the app shell and posts to its :attr:`~LinkBridge.target` (normally the
:class:`~stampside.app.tui.screens.stamping.StampingScreen`; ``None`` means nobody listens):

* :class:`~stampside.app.tui.screens.stamping.StampsStored` after every commit that stored stamps: the
  ones stored for the bridge's session (each with the zone it was stored in), and how many were
  stored outside any session. The screen counts what is stored, nothing else. Stamps stored
  while there is no target are in the database, which is where a resumed screen reads them from.
  Where stamps belong is the bridge's :attr:`~LinkBridge.tags` (session, active zone), which
  the link stores with each stamp in the transaction that stores it.
* :class:`~stampside.app.tui.screens.stamping.LinkStatusChanged` on every state change and whenever the
  serial, battery, head or arm state changes (checked every ``poll_interval`` seconds, as the
  session has no event for them); ``armed_since`` is when the arm state last changed.
  ``down_since`` is set when the link stops being connected and
  stays put while it goes LOST → RECONNECTING → LOST; it is on the bridge's ``clock``
  (``time.monotonic`` by default, the screen's clock too). A new target gets the current
  status at once.
* :class:`LinkProblem` when something needs a person: the port cannot be opened, or no stamp
  answers over BLE (:class:`~stampside.devicelink.transport.TransportOpenError`, the status turns
  CLOSED; a malformed ``ble:`` URL too), the device
  speaks no common protocol version (:class:`~stampside.firmware_protocol.IncompatibleVersion`, the
  session ends CLOSED), commits to the database keep failing
  (:class:`~stampside.app.storage.errors.StorageError`, polled; the session retries them), the device
  refuses to arm. ``text`` is meant to be shown as is; ``None`` says the problem went away
  (the link connected again, commits go through again). It bubbles from the screen to the
  app, which shows it (a notification, the storage-error dialog). A database that fails
  during the handshake shows as a lost link that keeps retrying, with no problem message.

Nothing here raises into the UI: :meth:`LinkBridge.start`, :meth:`LinkBridge.arm` and
:meth:`LinkBridge.aclose` turn every failure into a status and a :class:`LinkProblem`.
The loops run as asyncio tasks on the loop that called :meth:`LinkBridge.start` (the app's).

Typical use in the app shell::

    bridge = LinkBridge(device_url, sink=DatabaseSink(database), target=stamping_screen)
    # or over BLE: LinkBridge("ble:SS000001", hci="tcp-client:127.0.0.1:7100", ...)
    await bridge.start()
    bridge.tags = StampTags(treatment_id, active_zone)  # where arriving stamps are stored
    await bridge.arm()                 # when the stamping step begins
    bridge.target = next_screen        # or None
    await bridge.aclose()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from textual.message import Message
from textual.message_pump import MessagePump

from stampside.app.domain.zones import Zone
from stampside.app.storage.errors import StorageError
from stampside.app.storage.sink import DatabaseSink
from stampside.app.tui.screens.stamping import LinkStatusChanged, StampInput, StampsStored
from stampside.app.tui.widgets.status_bar import LinkStatus
from stampside.devicelink.broadcast import Subscription
from stampside.devicelink.errors import LinkError, SinkError
from stampside.devicelink.events import StateChange
from stampside.devicelink.session import LinkOptions, LinkSession
from stampside.devicelink.sink import NO_TAGS, LinkLogEntry, StampTags, StoredStamp
from stampside.devicelink.state import LinkState
from stampside.devicelink.transport import Transport, TransportError
from stampside.devicelink.urls import transport_for_url
from stampside.firmware_protocol import IncompatibleVersion

log = logging.getLogger(__name__)

#: States in which the link is down and ``down_since`` counts.
_DOWN = frozenset({LinkState.LOST, LinkState.RECONNECTING})


class LinkProblem(Message):
    """Something about the link needs a person; ``text`` is for them, ``None`` = the problem went away."""

    def __init__(self, text: str | None) -> None:
        super().__init__()
        self.text = text


class DeviceNotice(Message):
    """Something the device reported that a person should see once: a fault, a restarted numbering."""

    def __init__(self, text: str, severity: str = "warning") -> None:
        super().__init__()
        self.text = text
        #: Textual's notification severity: "information", "warning" or "error".
        self.severity = severity


#: What each FAULT code means at the chair (the detail follows).
_FAULTS = {
    "BUFFER_FULL": (
        "its buffer is full: it stopped counting ({detail} refused) until stored stamps are acknowledged",
        "error",
    ),
    "LOW_BATTERY": ("battery low ({detail} %): charge or swap it soon", "warning"),
    "BATTERY_EMPTY": ("battery empty: it stopped counting; charge or swap it", "error"),
    "SENSOR": ("force sensor fault (reading {detail}): forces may be wrong", "warning"),
    "UNEXPECTED_REBOOT": ("it restarted unexpectedly (boot {detail}); it is armed again if counting was on", "warning"),
}


def notice_for(kind: str, detail: str, serial: str) -> DeviceNotice | None:
    """The notice a link-log note gives at the chair, if any."""
    if kind == "fault":
        code, _, rest = detail.partition(" ")
        value = rest.removeprefix("detail=")
        text, severity = _FAULTS.get(code, (f"fault {code} ({value})", "warning"))
        return DeviceNotice(f"{serial}: {text.format(detail=value)}", severity)
    if kind == "new-numbering":
        return DeviceNotice(detail, "warning")
    if kind == "arm-refused":
        return DeviceNotice(f"{serial}: {detail}", "error")
    return None


class LinkBridge:
    """Owns the app's :class:`LinkSession` and forwards stamps and status to :attr:`target`.

    ``url`` is what :func:`~stampside.devicelink.urls.transport_for_url` opens: a port, a pty path,
    ``socket://HOST:PORT`` (serial), or ``ble``, ``ble:NAME``, ``ble:ADDRESS`` (bleak; ``hci``
    is the bumble HCI spec to reach it through, else ``$STAMPSIDE_BLE_HCI``, else the OS
    Bluetooth). ``transport`` replaces it (tests, other backends).
    With a ``sink`` every stamp is stored and acknowledged exactly once; without one nothing
    is stored or shown. ``arm``: True — count from the first handshake on; False — the device
    must not count (it is disarmed at every handshake); None — leave it as it is.
    """

    def __init__(
        self,
        url: str,
        *,
        sink: DatabaseSink | None = None,
        arm: bool | None = False,
        options: LinkOptions | None = None,
        target: MessagePump | None = None,
        transport: Transport | None = None,
        hci: str | None = None,
        poll_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.hci = hci
        self.sink = sink
        self.options = options
        self.poll_interval = poll_interval
        self._want_armed = arm
        self._transport = transport
        self._clock = clock
        self._target = target
        self._session: LinkSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._state = LinkState.CONNECTING
        self._down_since: float | None = None
        self._status = LinkStatus(LinkState.CONNECTING)
        self._problem: str | None = None
        self._storage_problem: str | None = None
        self._storage_away_since: float | None = None
        self._closed = False
        self._tags = NO_TAGS
        self._armed: bool | None = None
        self._armed_since: float | None = None
        #: How many stored stamps of the bridge's session were posted (to any target).
        self.stamps_forwarded = 0

    # -- what the app reads and sets ----------------------------------------------------

    @property
    def session(self) -> LinkSession | None:
        """The link session, once :meth:`start` made it."""
        return self._session

    @property
    def status(self) -> LinkStatus:
        """The status last posted (or that would have been, with no target)."""
        return self._status

    @property
    def problem(self) -> str | None:
        """The current problem's text, as last posted in a :class:`LinkProblem`."""
        return self._problem

    @property
    def target(self) -> MessagePump | None:
        return self._target

    @target.setter
    def target(self, target: MessagePump | None) -> None:
        """Send from now on to ``target``, which gets the current status (and problem) at once."""
        self._target = target
        if target is not None:
            self._post(LinkStatusChanged(self._status))
            if self._problem is not None:
                self._post(LinkProblem(self._problem))

    @property
    def tags(self) -> StampTags:
        """Where arriving stamps belong: the open session and the zone being stamped."""
        return self._tags

    @tags.setter
    def tags(self, tags: StampTags) -> None:
        self._tags = tags
        if self._session is not None:
            self._session.tags = tags

    def set_place(self, session_id: int | None, active_zone: Zone | None) -> None:
        """Stamps arriving from now on are stored in this session and (without a device zone) this zone."""
        self.tags = StampTags(session_id, int(active_zone) if active_zone is not None else None)

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> bool:
        """Open the link and start forwarding; False (with a :class:`LinkProblem` posted) if it cannot open."""
        if self._session is not None or self._closed:
            return self._session is not None
        try:
            transport = self._transport if self._transport is not None else transport_for_url(self.url, hci=self.hci)
        except TransportError as exc:  # a malformed ble: URL
            self._state = LinkState.CLOSED
            self._set_problem(str(exc) or type(exc).__name__)
            self._publish(force=True)
            return False
        session = LinkSession(transport, sink=self.sink, arm=self._want_armed, options=self.options)
        session.tags = self._tags
        self._session = session
        stamps = session.subscribe_stored()
        states = session.subscribe_states()
        notes = session.subscribe_notes()
        self._publish(force=True)
        try:
            await session.start()
        except (TransportError, StorageError, SinkError, IncompatibleVersion, LinkError, OSError) as exc:
            stamps.close()
            states.close()
            notes.close()
            self._state = LinkState.CLOSED
            self._set_problem(str(exc) or type(exc).__name__)
            self._publish(force=True)
            return False
        self._spawn(self._forward_stamps(stamps), "stamps")
        self._spawn(self._follow_states(states), "states")
        self._spawn(self._follow_notes(notes), "notes")
        self._spawn(self._poll(), "poll")
        return True

    async def aclose(self) -> None:
        """Store and acknowledge what is pending, close the link and stop the loops. Never raises."""
        self._closed = True
        session = self._session
        if session is not None:
            try:
                await session.close()
            except Exception:  # the app is closing: log it, never raise into the UI
                log.exception("closing the link session failed")
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def arm(self) -> bool:
        """Count stamps, now and after every reconnect; False (with a :class:`LinkProblem`) if refused."""
        self._want_armed = True
        session = self._session
        if session is None:
            return True  # start() arms at the first handshake
        try:
            await session.arm()
        except (LinkError, TransportError) as exc:
            self._set_problem(f"the device did not arm: {exc}")
            return False
        return True

    async def disarm(self, wait: float = 3.0) -> bool:
        """Stop counting (and stay disarmed after reconnects); False (with a :class:`LinkProblem`)
        if the device could not be told within ``wait`` seconds of the link coming back."""
        self._want_armed = False
        session = self._session
        if session is None:
            return True
        try:
            state = await session.disarm(wait=wait)
        except (LinkError, TransportError) as exc:
            self._set_problem(f"the device did not disarm: {exc}")
            return False
        if state is None and session.state is not LinkState.CLOSED:
            self._set_problem("the link is down: the stamp may still be counting; it is disarmed when it reconnects")
            return False
        return True

    # -- the loops ----------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(self._guarded(coro), name=f"stampside link bridge {name}"))

    async def _guarded(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must not take the app down: show it and log it
            log.exception("the link bridge failed")
            self._set_problem(f"internal error in the link bridge: {exc!r}")

    async def _forward_stamps(self, stored: Subscription[tuple[StoredStamp, ...]]) -> None:
        with stored:
            async for batch in stored:
                self._forward(batch)

    def _forward(self, batch: tuple[StoredStamp, ...]) -> None:
        """Post the stamps of one commit: the bridge's session's, and a count of those outside any."""
        session_id = self._tags.session_id
        mine: list[StampInput] = []
        unassigned = 0
        now_wall, now = time.time(), self._clock()
        for item in batch:
            if item.session_id is None:
                unassigned += 1
                continue
            if item.session_id != session_id:
                continue
            stamp = item.stamp
            zone = Zone.from_wire(item.credited_zone) if item.credited_zone is not None else None
            received = now - max(0.0, now_wall - item.received.received_at)
            mine.append(
                StampInput(
                    stamp.boot,
                    stamp.seq,
                    stamp.device_time_ms,
                    stamp.force_dn,
                    stamp.zone,
                    received,
                    zone,
                    item.ledger.life,
                )
            )
        if mine or unassigned:
            self.stamps_forwarded += len(mine)
            self._post(StampsStored(tuple(mine), unassigned))

    async def _follow_notes(self, notes: Subscription[LinkLogEntry]) -> None:
        """Device faults and a restarted numbering, once each, as notices."""
        with notes:
            async for note in notes:
                session = self._session
                serial = session.device.serial if session is not None and session.device is not None else "the stamp"
                notice = notice_for(note.kind, note.detail, serial)
                if notice is not None:
                    self._post(notice)

    async def _follow_states(self, states: Subscription[StateChange]) -> None:
        with states:
            async for change in states:
                self._on_state(change)

    def _on_state(self, change: StateChange) -> None:
        self._state = change.state
        if change.state in _DOWN:
            if self._down_since is None:
                self._down_since = self._on_clock(change.monotonic)
        else:
            self._down_since = None
        if change.state is LinkState.CONNECTED and self._problem is not None:
            self._set_problem(None)
        session = self._session
        if change.state is LinkState.CLOSED and session is not None and session.error is not None:
            self._set_problem(str(session.error))
        self._publish(force=True)

    async def _poll(self) -> None:
        """Battery, head and serial have no event of their own; storage errors neither."""
        while True:
            await asyncio.sleep(self.poll_interval)
            self._publish(force=False)
            session = self._session
            if session is None:
                continue
            error = session.storage_error
            if error is not None:
                if self._storage_problem is None:
                    self._storage_away_since = self._clock()
                self._storage_problem = str(error)
                self._set_problem(self._storage_problem)
                self._publish(force=False)  # the screen's storage banner
            elif self._storage_problem is not None:
                if self._problem == self._storage_problem:
                    self._set_problem(None)  # the commits go through again
                self._storage_problem = None
                self._storage_away_since = None
                self._publish(force=True)

    # -- posting ------------------------------------------------------------------------

    def _publish(self, *, force: bool) -> None:
        status = self._compute_status()
        if force or status != self._status:
            self._status = status
            self._post(LinkStatusChanged(status))

    def _compute_status(self) -> LinkStatus:
        session = self._session
        serial = battery = head = None
        if session is not None:
            device = session.device
            if device is not None:
                serial, battery, head = device.serial, device.battery_pct, device.head_id
            if session.battery is not None:
                battery = session.battery.pct
            if session.head is not None:
                head = session.head.head_id
        armed = session.armed if session is not None and self._state is LinkState.CONNECTED else None
        if armed != self._armed:
            self._armed = armed
            self._armed_since = self._clock() if armed is not None else None
        return LinkStatus(
            self._state,
            serial=serial,
            battery_pct=battery,
            head_id=None if head is None else str(head),
            down_since=self._down_since,
            armed=armed,
            armed_since=self._armed_since,
            storage_problem=self._storage_problem,
            storage_away_since=self._storage_away_since,
        )

    def _set_problem(self, text: str | None) -> None:
        if text == self._problem:
            return
        self._problem = text
        if text is not None:
            log.warning("link problem: %s", text)
        self._post(LinkProblem(text))

    def _post(self, message: Message) -> None:
        target = self._target
        if target is not None:
            target.post_message(message)  # False once the target is closed: nothing to do

    def _on_clock(self, monotonic: float) -> float:
        """A ``time.monotonic()`` instant on the bridge's clock."""
        if self._clock is time.monotonic:
            return monotonic
        return self._clock() - (time.monotonic() - monotonic)
