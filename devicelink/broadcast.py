"""Fan-out of session events to any number of async-iterator subscribers.

Publishing never blocks and never waits for a subscriber: each subscription has a bounded
queue, and when a slow subscriber's queue is full the oldest item is dropped and counted
(:attr:`Subscription.dropped`). The link itself is never slowed down by a monitor.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_QUEUE_SIZE = 10_000


class Subscription(Generic[T]):
    """An async iterator over the items published after it was created.

    Use it as a context manager so it unsubscribes when done::

        with session.subscribe_stamps() as stamps:
            async for event in stamps:
                ...

    Iteration ends when the publisher closes (the session closed).
    """

    def __init__(self, hub: Broadcast[T], maxsize: int) -> None:
        self._hub = hub
        self._items: deque[T] = deque()
        self._maxsize = maxsize
        self._ready = asyncio.Event()
        self._closed = False
        #: Items dropped because this subscriber fell more than ``maxsize`` behind.
        self.dropped = 0

    def _push(self, item: T) -> None:
        if len(self._items) >= self._maxsize:
            self._items.popleft()
            self.dropped += 1
        self._items.append(item)
        self._ready.set()

    def _end(self) -> None:
        self._closed = True
        self._ready.set()

    def close(self) -> None:
        """Stop receiving items."""
        self._hub._remove(self)
        self._end()

    def pending(self) -> int:
        return len(self._items)

    def get_nowait(self) -> T | None:
        return self._items.popleft() if self._items else None

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def __enter__(self) -> Subscription[T]:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Broadcast(Generic[T]):
    """Publishes items to every current :class:`Subscription`."""

    def __init__(self) -> None:
        self._subscribers: list[Subscription[T]] = []
        self._closed = False

    def __bool__(self) -> bool:
        """True when someone listens (so publishers can skip building items)."""
        return bool(self._subscribers)

    def subscribe(self, maxsize: int = DEFAULT_QUEUE_SIZE) -> Subscription[T]:
        sub = Subscription(self, maxsize)
        if self._closed:
            sub._end()
        else:
            self._subscribers.append(sub)
        return sub

    def publish(self, item: T) -> None:
        for sub in self._subscribers:
            sub._push(item)

    def close(self) -> None:
        self._closed = True
        subs, self._subscribers = self._subscribers, []
        for sub in subs:
            sub._end()

    def _remove(self, sub: Subscription[T]) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)
