"""Blinded rating: before/after pairs shown unlabeled, in a seeded random order; the rater's call is stored.

The round is :func:`~stampside.app.storage.outcomes.blinded_round`: every view with a baseline and an
after-session-6 photo, pairs shuffled and each pair's left/right order drawn from the seed.
Nothing on screen says which photo is which; the rater says which shows more hair, or that
there is no visible difference, and the call is stored with the seed
(:func:`~stampside.app.storage.outcomes.record_blinded_call`), then the next pair comes.

Keys: ``left``/``1`` the left photo, ``right``/``2`` the right one, ``0``/``=`` no visible
difference, ``escape`` back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from PIL import Image, UnidentifiedImageError
from sqlalchemy.orm import Session
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Footer, Label, Static

from stampside.app.domain.outcomes import BlindedCall, BlindedPair
from stampside.app.storage.outcomes import OutcomeError, blinded_round, record_blinded_call
from stampside.app.storage.photos import PhotoError, get_photo
from stampside.app.tui.screens.course_base import CourseContext, CourseScreen
from stampside.app.tui.widgets.header import AppHeader
from stampside.app.tui.widgets.photo_panel import PhotoPanel, load_preview


@dataclass(frozen=True, slots=True)
class RoundPair:
    """A pair of the round with the stored copies' paths (left, right)."""

    pair: BlindedPair
    left: Path
    right: Path


class BlindedRatingScreen(CourseScreen[None]):
    """One blinded round over every course (or ``course_ids``), seeded by ``seed``."""

    CSS_PATH = "../styles/course.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,1", "call('left')", "Left shows more"),
        Binding("right,2", "call('right')", "Right shows more"),
        Binding("0,equals_sign", "call('same')", "No difference"),
    ]

    def __init__(self, context: CourseContext, seed: int, course_ids: list[int] | None = None) -> None:
        super().__init__(context)
        self.seed = seed
        self._course_ids = course_ids
        self.pairs: list[RoundPair] = []
        self.index = 0
        self.calls = 0
        self._busy = True

    def compose(self) -> ComposeResult:
        yield AppHeader()
        with Vertical(classes="course-body"):
            yield Label(f"Blinded rating · round {self.seed}", classes="course-title")
            yield Static("Which photo shows more hair?", id="blinded-question")
            yield Static("", id="blinded-progress")
            with Horizontal(id="blinded-pair"):
                with Vertical(classes="photo-side"):
                    yield Static("Left", classes="photo-caption")
                    yield PhotoPanel(id="left-photo")
                with Vertical(classes="photo-side"):
                    yield Static("Right", classes="photo-caption")
                    yield PhotoPanel(id="right-photo")
            with Horizontal(classes="dialog-buttons"):
                yield Button("← Left", id="call-left", variant="primary")
                yield Button("No difference", id="call-same")
                yield Button("Right →", id="call-right", variant="primary")
            yield Static("", id="course-message", classes="course-message")
        yield Footer()

    def on_mount(self) -> None:
        self._load()

    @work(group="blinded-load")
    async def _load(self) -> None:
        root = self.ctx.photos

        def read(s: Session) -> list[RoundPair]:
            pairs = []
            for pair in blinded_round(s, seed=self.seed, course_ids=self._course_ids):
                left, right = get_photo(s, pair.left_photo_id), get_photo(s, pair.right_photo_id)
                pairs.append(RoundPair(pair, left.path(root), right.path(root)))
            return pairs

        pairs = await self.call(read, PhotoError)
        if pairs is None:
            return
        self.pairs = pairs
        if not pairs:
            self.query_one("#blinded-progress", Static).update(
                "No pairs to rate: a view needs both a baseline and an after-session-6 photo."
            )
            return
        await self._present()

    async def _present(self) -> None:
        if self.index >= len(self.pairs):
            self._busy = True
            self.query_one("#blinded-progress", Static).update(
                f"Round done: {self.calls} call{'s' if self.calls != 1 else ''} stored. Press escape to go back."
            )
            self.query_one("#left-photo", PhotoPanel).show(None, "")
            self.query_one("#right-photo", PhotoPanel).show(None, "")
            return
        current = self.pairs[self.index]
        view = self.ctx.protocol.photos.view(current.pair.view).label
        self.query_one("#blinded-progress", Static).update(f"Pair {self.index + 1} of {len(self.pairs)} · {view}")
        for side, path in (("left", current.left), ("right", current.right)):
            try:
                preview: Image.Image | None = await asyncio.to_thread(load_preview, path)
                note = ""
            except (OSError, UnidentifiedImageError, Image.DecompressionBombError):
                preview, note = None, "this stored copy cannot be shown"
            self.query_one(f"#{side}-photo", PhotoPanel).show(preview, note)
        self._busy = False

    @on(Button.Pressed, "#call-left")
    def _left(self) -> None:
        self.action_call("left")

    @on(Button.Pressed, "#call-right")
    def _right(self) -> None:
        self.action_call("right")

    @on(Button.Pressed, "#call-same")
    def _same(self) -> None:
        self.action_call("same")

    def action_call(self, call: str) -> None:
        if self._busy or self.index >= len(self.pairs):
            return
        self._busy = True
        self._store(self.pairs[self.index].pair, BlindedCall(call))

    @work(group="blinded-save", exclusive=True)
    async def _store(self, pair: BlindedPair, call: BlindedCall) -> None:
        ctx = self.ctx
        stored = await self.call(
            lambda s: record_blinded_call(s, pair, call, seed=self.seed, rater=ctx.who, now=ctx.now()), OutcomeError
        )
        if stored is None:
            self._busy = False
            return
        self.calls += 1
        self.index += 1
        self.say(f"Call stored ({self.calls} of {len(self.pairs)}).")
        await self._present()
