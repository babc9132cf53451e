"""Signing in and signing records in Pilot tests: the sign-in screen (at start-up, the lock) and the PIN dialog."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from textual.pilot import Pilot
from textual.widgets import Input, Static

from stampside.app.domain.signatures import SignatureMeaning
from stampside.app.tui.dialogs.sign import SignDialog
from stampside.app.tui.screens.sign_in import SignInScreen

#: The PIN the tests' practitioners sign in with (chosen at their first sign-in).
PIN = "2468"
PATIENCE = 20.0


async def _wait(pilot: Pilot[None], predicate: Callable[[], bool], timeout: float = PATIENCE) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await pilot.pause(0.02)
    except TimeoutError:
        raise AssertionError(f"still waiting; on screen: {describe(pilot)}") from None


def describe(pilot: Pilot[None]) -> str:
    """What is on top, for a test that waited in vain."""
    screen = pilot.app.screen
    if isinstance(screen, SignInScreen):
        error = screen.query_one("#sign-in-error").render()
        return (
            f"sign-in (chosen {screen.chosen}, focused {screen.focused!r}, checking {screen._checking}, "
            f"PIN {screen.query_one('#pin', Input).value!r}, again {screen.query_one('#pin-again', Input).value!r}, "
            f"error {error!s})"
        )
    return f"{screen!r} (focused {screen.focused!r})"


def sign_in_ready(pilot: Pilot[None]) -> bool:
    """The sign-in screen is up with its practitioners read (one highlighted, its PIN field focused)."""
    screen = pilot.app.screen
    return (
        isinstance(screen, SignInScreen)
        and screen.chosen is not None
        and screen.focused is screen.query_one("#pin", Input)
        and not screen._checking
    )


async def sign_in(pilot: Pilot[None], name: str | None = None, pin: str = PIN) -> None:
    """Sign in on the sign-in screen (at start-up, or the lock) as ``name`` (default: the one highlighted):
    the PIN typed, and typed again when it is their first sign-in."""
    await _wait(pilot, lambda: sign_in_ready(pilot))
    screen = pilot.app.screen
    assert isinstance(screen, SignInScreen)
    if name is not None:
        for _ in range(len(screen._choices)):
            chosen = screen.chosen
            if chosen is not None and chosen.name == name:
                break
            await pilot.press("down")
        chosen = screen.chosen
        assert chosen is not None and chosen.name == name, f"{name} is not offered at sign-in"
    await pilot.press(*pin)
    if screen.query_one("#pin-again", Input).display:
        await pilot.press("enter", *pin)
    await pilot.press("enter")
    await _wait(pilot, lambda: pilot.app.screen is not screen)


async def past_sign_in(pilot: Pilot[None], name: str | None = None, pin: str = PIN) -> None:
    """Sign in if the app asks who is at the chair (at start-up); return once someone is signed in."""
    from stampside.app.tui.screens.start import StartScreen

    def signed_in() -> bool:
        screen = pilot.app.screen
        return any(isinstance(s, StartScreen) and s.practitioner is not None for s in pilot.app.screen_stack) and not (
            isinstance(screen, SignInScreen)
        )

    await _wait(pilot, lambda: sign_in_ready(pilot) or signed_in())
    if not signed_in():
        await sign_in(pilot, name, pin)


@dataclass(frozen=True)
class Signed:
    """What the PIN dialog showed: what was signed, with which meaning, by whom."""

    what: str
    meaning: SignatureMeaning
    who: str
    manifest: str


async def sign_with_pin(pilot: Pilot[None], pin: str = PIN) -> Signed:
    """Sign what the PIN dialog shows: the PIN, then enter; returns what it showed once it has closed."""
    await _wait(pilot, lambda: isinstance(pilot.app.screen, SignDialog) and pilot.app.screen.focused is not None)
    dialog = pilot.app.screen
    assert isinstance(dialog, SignDialog)
    shown = Signed(
        str(dialog.query_one("#sign-what", Static).content),
        dialog.meaning,
        dialog.who,
        str(dialog.query_one("#sign-manifest", Static).content),
    )
    await pilot.press(*pin, "enter")
    await _wait(pilot, lambda: pilot.app.screen is not dialog)
    return shown
