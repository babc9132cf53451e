"""The open session's link to the stamp: where its stamps go, its arm state, its device checks.

A :class:`SessionLink` owns the session's :class:`~stampside.app.tui.link_bridge.LinkBridge` for the
:class:`~stampside.app.tui.session_controller.SessionController`:

* **Where stamps go.** From the moment the stamping step is up, the link stores every arriving
  stamp in the session and — when the device sends no zone — in the zone being stamped
  (:meth:`stamping_began`, :meth:`zone_changed`), in the transaction that stores the stamp.
  Before stamping (the pre-session checks) stamps that arrive belong to no session: they are
  stored unassigned, never dropped. The zone being stamped is stored with the session, so a
  resumed session goes on in it.
* **Armed.** The device is disarmed while the checks run and armed for stamping; the link
  keeps it so after every reconnect and reboot. ``s`` on the stamping screen arms it by hand.
* **Device checks.** What the link knows (device, needle, head, battery, clock, arm state) is
  turned into the gates' facts and checked again whenever it changes.
* **The device and head** are stored with the session once the link knows them, and again
  after a head change, with the treated zones. The session then holds them: when another chair's
  open session holds the device or the head, the database refuses
  (:class:`~stampside.app.storage.claims.SessionClaimed`) and the link does not feed this session:
  its stamps are stored outside any session, the device is not armed from here, and the stamping
  screen says who has it. The attach is tried again every :data:`CLAIM_RETRY_S` seconds, and at once
  when arming is asked for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from stampside.app.chairside import session_cases as cases
from stampside.app.domain.coverage import CoverageModel
from stampside.app.domain.gates import DeviceFacts
from stampside.app.domain.treatment_protocol import StepKind
from stampside.app.domain.zones import Zone
from stampside.app.storage.claims import SessionClaimed
from stampside.app.storage.database import Database
from stampside.app.storage.errors import explain
from stampside.app.storage.sessions import SessionError, ZoneSetting
from stampside.app.storage.sink import DatabaseSink
from stampside.app.tui.link_bridge import LinkBridge
from stampside.app.tui.session_steps import device_facts

if TYPE_CHECKING:
    from stampside.app.tui.session_controller import SessionController

log = logging.getLogger(__name__)

#: The head footprint assumed until the device reports its own.
DEFAULT_FOOTPRINT_MM2 = 100
#: How long the end of stamping waits for a lost link to come back to disarm the device.
DISARM_WAIT_S = 3.0
#: A device or head another chair holds is asked for again after this many seconds.
CLAIM_RETRY_S = 5.0


class SessionLink:
    """The link of one open session (see the module documentation)."""

    def __init__(
        self,
        controller: SessionController,
        database: Database,
        prepared: cases.PreparedSession,
        device_url: str,
        *,
        stamping: bool,
    ) -> None:
        self.controller = controller
        self.database = database
        self.session_id = prepared.view.id
        self._treated = prepared.treated
        self._areas = prepared.areas  # stored ones, else the previous session's
        self.bridge = LinkBridge(
            device_url,
            sink=DatabaseSink(database),
            arm=stamping,
            options=controller.link_options,
            hci=controller.ble_hci,
        )
        if stamping:  # resuming mid-stamping: stamps the device kept meanwhile are this session's
            self.bridge.set_place(self.session_id, prepared.active_zone)
        #: (serial, head id, footprint) last stored with the session.
        self._attached: tuple[str, int, int] | None = None
        self._attaching = False
        self._head_used: dict[tuple[str, int], bool] = {}
        self._head_asked: set[tuple[str, int]] = set()
        self._checked: DeviceFacts | None = None
        #: Why the device or head is not this session's: another chair's open session holds it (None: it is ours).
        self.claimed: SessionClaimed | None = None
        #: The (serial, head id, footprint) refused, and when (monotonic), until it is asked for again.
        self._refused: tuple[str, int, int] | None = None
        self._refused_at = 0.0
        #: The zone being stamped once the stamping screen is up (None: before stamping).
        self._stamping_zone: Zone | None = prepared.active_zone if stamping else None
        self._monotonic = time.monotonic

    async def start(self) -> None:
        await self.bridge.start()  # a port that cannot be opened is a LinkProblem, shown by the app
        self.recheck()

    async def close(self, *, disarm: bool) -> None:
        """Disarm (when the step is over), store and acknowledge what is pending, close."""
        if disarm:
            await self.bridge.disarm(wait=DISARM_WAIT_S)
        await self.bridge.aclose()

    # -- stamping -----------------------------------------------------------------------

    def stamping_began(self, zone: Zone) -> None:
        """The stamping screen is up: stamps from now on are this session's, in ``zone``; arm.

        Not while another chair holds the device or head: then its stamps stay outside any session.
        """
        self._stamping_zone = zone
        self._spawn(self._store_active_zone(zone), "session-zone")
        if self.claimed is not None:
            self.controller.device_claimed(self.claimed, changed=False)
            return
        self.bridge.set_place(self.session_id, zone)
        self._spawn(self.arm(), "session-arm")

    def zone_changed(self, zone: Zone) -> None:
        self._stamping_zone = zone
        if self.claimed is None:
            self.bridge.set_place(self.session_id, zone)
        self._spawn(self._store_active_zone(zone), "session-zone")

    def zones_changed(self) -> None:
        if self._attached is not None:
            self._spawn(self._store_zones(), "session-zones")

    async def arm(self) -> None:
        if self.claimed is not None:  # another chair's: not armed from here; ask for it again at the next tick
            self._refused_at = float("-inf")
            self.controller.device_claimed(self.claimed, changed=True)
            return
        if await self.bridge.arm():
            self.recheck()

    async def disarm(self) -> None:
        """A pause: the stamp stops counting and stays so (across reconnects) until :meth:`arm`."""
        await self.bridge.disarm()
        self.recheck()

    async def _store_active_zone(self, zone: Zone) -> None:
        try:
            await asyncio.to_thread(cases.store_active_zone, self.database, self.session_id, zone)
        except SessionError as exc:
            self.controller.notify_error(str(exc), "Zone not stored")
        except SQLAlchemyError as exc:
            self.controller.storage_failed(str(explain(self.database.url, exc)))

    async def _store_zones(self) -> None:
        try:
            await asyncio.to_thread(cases.store_zones, self.database, self.session_id, self._zone_settings())
        except SessionError as exc:
            self.controller.notify_error(str(exc), "Zones not stored")
        except SQLAlchemyError as exc:
            self.controller.storage_failed(str(explain(self.database.url, exc)))

    def _zone_settings(self) -> list[ZoneSetting]:
        screen = self.controller.screen
        if screen is not None:
            coverage = screen.coverage
        else:
            densities = self.controller.protocol.coverage.densities()
            coverage = CoverageModel(self._treated, densities, DEFAULT_FOOTPRINT_MM2, areas_cm2=self._areas)
        return [
            ZoneSetting(zone, coverage.area_cm2(zone), coverage.target_density(zone))
            for zone in sorted(coverage.treated)
        ]

    # -- the device ----------------------------------------------------------------------

    def tick(self) -> None:
        self._attach_when_known()
        self.recheck()

    def recheck(self, *, force: bool = False) -> None:
        """Run the current step's device checks again when what the link knows has changed."""
        controller = self.controller
        flow = controller._flow
        if flow is None or flow.finished:
            return
        step, record = flow.current_step, flow.current_record
        if step is None or record is None or not step.gates:
            return
        armed_once = len(record.checks) == len(step.gates) and all(check.passed for check in record.checks)
        if step.kind is StepKind.STAMPING and armed_once:
            return  # armed once: the step's gate is met, however the link goes on
        facts = device_facts(self.bridge.session, self._head_used_elsewhere)
        if facts is None or (facts == self._checked and not force):
            return
        self._checked = facts
        controller.change(lambda f: f.check_device(facts))
        refresh = getattr(controller.step_screen, "refresh_step", None)
        if callable(refresh):
            refresh()

    def _head_used_elsewhere(self, serial: str, head_id: int) -> bool | None:
        key = (serial, head_id)
        if key in self._head_used:
            return self._head_used[key]
        if key not in self._head_asked:
            self._head_asked.add(key)
            self._spawn(self._ask_head(key), "session-head")
        return None

    async def _ask_head(self, key: tuple[str, int]) -> None:
        try:
            self._head_used[key] = await asyncio.to_thread(
                cases.head_used_elsewhere, self.database, self.session_id, *key
            )
        except SQLAlchemyError as exc:
            self._head_asked.discard(key)  # asked again at the next tick
            self.controller.storage_failed(str(explain(self.database.url, exc)))
            return
        self.recheck()

    def _device_head(self) -> tuple[str, int, int] | None:
        """(serial, head id, footprint) as the link knows them now; None before DEVICE_INFO."""
        session = self.bridge.session
        info = session.device if session is not None else None
        if session is None or info is None:
            return None
        head = session.head
        if head is not None:
            return (info.serial, head.head_id, head.footprint_mm2)
        return (info.serial, info.head_id, info.footprint_mm2)

    def _attach_when_known(self) -> None:
        """Store the device, head and treated zones when first known and after a head change."""
        device = self._device_head()
        if device is None or device == self._attached or self._attaching:
            return
        if device == self._refused and self._monotonic() - self._refused_at < CLAIM_RETRY_S:
            return  # held by another chair: asked again a little later
        screen = self.controller.screen
        if screen is not None and device[2] > 0 and device[2] != screen.coverage.footprint_mm2:
            screen.coverage.set_footprint(device[2])
        self._attaching = True
        self._spawn(self._attach(device), "session-attach")

    async def _attach(self, device: tuple[str, int, int]) -> None:
        serial, head_id, device_footprint = device
        screen = self.controller.screen
        footprint = screen.coverage.footprint_mm2 if screen is not None else device_footprint
        try:
            self.controller.view = await asyncio.to_thread(
                cases.attach_device,
                self.database,
                self.session_id,
                serial=serial,
                head_id=head_id,
                footprint_mm2=footprint,
                zones=self._zone_settings(),
                now=self.controller.clock(),
                chair=self.controller.chair,
            )
            self._attached = device
            if self.claimed is not None:
                self._claim_over()
        except SessionClaimed as exc:
            self._refuse(device, exc)
        except SessionError:
            pass  # the link registers the device in its own transaction: try again at the next tick
        except SQLAlchemyError as exc:
            self.controller.storage_failed(str(explain(self.database.url, exc)))
        finally:
            self._attaching = False

    def _refuse(self, device: tuple[str, int, int], claimed: SessionClaimed) -> None:
        """Another chair's open session holds the device or head: its stamps are not this session's."""
        changed = self.claimed is None or str(self.claimed) != str(claimed)
        self.claimed, self._refused, self._refused_at = claimed, device, self._monotonic()
        self.bridge.set_place(None, None)
        self.controller.device_claimed(claimed, changed=changed)

    def _claim_over(self) -> None:
        """The device and head are this session's now: back to feeding it (and armed, while stamping)."""
        self.claimed, self._refused = None, None
        self.controller.device_claimed(None, changed=True)
        zone = self._stamping_zone
        if zone is not None:
            self.bridge.set_place(self.session_id, zone)
            self._spawn(self.arm(), "session-arm")

    def _spawn(self, coro: Coroutine[Any, Any, None], group: str) -> None:
        self.controller.app.run_worker(coro, group=group)
