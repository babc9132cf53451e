"""Who is changing the records: the actor each audit entry names.

The actor is the best name the process has, most specific first:

1. a block of code acting for someone (:func:`acting_as`): the link's sink stores a device's
   stamps and link events as ``link:<serial>``;
2. the process's actor (:func:`set_actor`): the chairside app sets the practitioner signed in
   with their PIN (``practitioner:<name>``, :mod:`stampside.app.tui.signed_in`), each ``stampside`` command
   sets ``cli:<command>``;
3. otherwise ``process:<program name>``.

Nothing here imports SQLAlchemy: the CLI sets the actor before it knows whether a command
touches the database.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

__all__ = ["MAX_ACTOR_CHARS", "acting_as", "current_actor", "set_actor"]

#: Longer names are cut to this length in the trail.
MAX_ACTOR_CHARS = 200

_process_actor: str | None = None
_block_actor: ContextVar[str | None] = ContextVar("stampside_audit_actor", default=None)


def set_actor(name: str | None) -> None:
    """Set (``None``: clear) the process's actor: who is at the keyboard, or which command runs."""
    global _process_actor
    _process_actor = name.strip()[:MAX_ACTOR_CHARS] if name and name.strip() else None


@contextmanager
def acting_as(name: str) -> Iterator[None]:
    """Changes made inside the block (in this thread or task) are by ``name``."""
    token = _block_actor.set(name.strip()[:MAX_ACTOR_CHARS] or None)
    try:
        yield
    finally:
        _block_actor.reset(token)


def current_actor() -> str:
    """The name the next audit entry gets."""
    block = _block_actor.get()
    if block:
        return block
    if _process_actor:
        return _process_actor
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return f"process:{program}"[:MAX_ACTOR_CHARS]
