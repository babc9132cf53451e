"""The practitioner's hand: when stamps happen and what each one measures.

Two random streams, both derived from the seed, keep runs repeatable:

* the *values* stream gives each counted stamp its peak force and contact duration. It is
  drawn once per counted stamp, so the values of the n-th stamp depend on the seed alone,
  not on when the host armed the device or how the link behaved;
* the *timing* stream gives the gaps between stamps at the human rate.

Peak force is normal around 6 N (sd 1.2 N), clipped to what the wire carries
(0.1–25.5 N, in 0.1 N steps). Contact duration is log-normal with a median of 180 ms,
clipped to 1–4095 ms. At the human rate the gap between stamps is log-normal with a
median of 0.5 s (about 1–3 stamps a second), clipped to 0.2–2 s; a fixed ``rate`` gives
exactly ``1/rate`` seconds between stamps, for floods.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from stampside.simulator.config import StampingConfig

#: Median gap between stamps at the human rate, seconds.
HUMAN_MEDIAN_GAP = 0.5
HUMAN_GAP_SIGMA = 0.3
HUMAN_MIN_GAP = 0.2
HUMAN_MAX_GAP = 2.0
#: Zones the practitioner walks through (1 frontal … 5 right temporal).
WALK_ZONES = (1, 2, 3, 4, 5)
FORCE_MAX_DN = 255
CONTACT_MAX_MS = 0xFFF


@dataclass(frozen=True, slots=True)
class StampValues:
    force_dn: int
    contact_ms: int
    zone: int


class StampGenerator:
    """Draws stamp values and the gaps between stamps from a seed."""

    def __init__(self, config: StampingConfig, seed: int) -> None:
        self.config = config
        self._values = random.Random(f"stamp-values:{seed}")
        self._timing = random.Random(f"stamp-timing:{seed}")
        #: Stamps per second, or None for the human rate. Changed by the timeline.
        self.rate = config.rate
        self._log_contact = math.log(config.contact_ms)
        self._log_gap = math.log(HUMAN_MEDIAN_GAP)

    def gap(self) -> float:
        """Seconds until the next stamp."""
        if self.rate is not None:
            return 1.0 / self.rate
        gap = self._timing.lognormvariate(self._log_gap, HUMAN_GAP_SIGMA)
        return min(HUMAN_MAX_GAP, max(HUMAN_MIN_GAP, gap))

    def values(self, index: int) -> StampValues:
        """Force, contact and zone of the stamp counted ``index``-th (0-based) in this run."""
        config = self.config
        rng = self._values
        force_dn = round(rng.gauss(config.force_n, config.force_sd_n) * 10)
        contact = round(rng.lognormvariate(self._log_contact, config.contact_sigma))
        walk = config.zones == "walk"
        zone = WALK_ZONES[(index // config.zone_stamps) % len(WALK_ZONES)] if walk else 0
        return StampValues(
            force_dn=min(FORCE_MAX_DN, max(1, force_dn)),
            contact_ms=min(CONTACT_MAX_MS, max(1, contact)),
            zone=zone,
        )
