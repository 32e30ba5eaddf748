"""Work done in groups: callers queue items, and whichever caller finds no batch running runs the queued
ones for everyone (leader/follower group commit). The audit trail commits its rows this way, and the
server embeds its questions this way: one transaction or one forward pass for all who arrived meanwhile."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Generic, Protocol, TypeVar


class Finishable(Protocol):
    @property
    def finished(self) -> bool: ...


T = TypeVar("T", bound=Finishable)


class GroupRunner(Generic[T]):
    """Runs queued items in batches, one batch at a time, on the threads that submit them.

    `run` must leave every item of its batch finished (with its result or its error); `take` says how
    many of the queued items (in order, at least one) the next batch holds, by default all of them.
    """

    def __init__(self, run: Callable[[list[T]], None], take: Callable[[Sequence[T]], int] | None = None) -> None:
        self._run = run
        self._take = take or len
        self._cond = threading.Condition()
        self._queue: list[T] = []
        self._running = False

    def submit(self, item: T) -> None:
        """Return once `item` is finished: run by this thread, as the leader of a batch, or by another."""
        self.submit_all([item])

    def submit_all(self, items: Sequence[T]) -> None:
        """Queue `items` together (one batch, unless `take` splits them) and return once all are finished."""
        with self._cond:
            self._queue.extend(items)
        while True:
            with self._cond:
                while not all(item.finished for item in items) and self._running:
                    self._cond.wait()
                if all(item.finished for item in items):
                    return
                self._running = True  # this thread runs the next batch, for everyone in it
                count = max(1, self._take(self._queue))
                batch, self._queue = self._queue[:count], self._queue[count:]
            try:
                self._run(batch)
            finally:
                with self._cond:
                    self._running = False
                    self._cond.notify_all()

    @contextmanager
    def idle(self) -> Iterator[None]:
        """Hold off every batch: entered once none is running, and none starts until exit."""
        with self._cond:
            self._cond.wait_for(lambda: not self._running)
            yield
