"""GroupRunner: items submitted while a batch runs go together in the next one, run by a waiting caller."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from tailor.batching import GroupRunner


def wait_queued(runner: GroupRunner, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(runner._queue) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(runner._queue) == count


@dataclass
class Item:
    value: int
    finished: bool = False
    error: BaseException | None = None


def test_items_arriving_during_a_batch_are_run_together_and_each_caller_returns_once_its_item_is_done():
    batches: list[list[int]] = []
    first_started = threading.Event()
    release = threading.Event()

    def run(batch: list[Item]) -> None:
        batches.append([item.value for item in batch])
        if len(batches) == 1:
            first_started.set()
            release.wait(5)
        for item in batch:
            item.finished = True

    runner = GroupRunner(run)
    items = [Item(i) for i in range(6)]
    first = threading.Thread(target=runner.submit, args=(items[0],))
    first.start()
    assert first_started.wait(5)
    rest = [threading.Thread(target=runner.submit, args=(item,)) for item in items[1:]]
    for thread in rest:
        thread.start()
    wait_queued(runner, 5)  # all five are queued behind the running batch
    release.set()
    for thread in (first, *rest):
        thread.join(5)
    assert all(item.finished for item in items)
    assert batches[0] == [0] and sorted(batches[1]) == [1, 2, 3, 4, 5] and len(batches) == 2


def test_take_bounds_a_batch_and_the_rest_runs_next():
    batches: list[list[int]] = []
    started, release = threading.Event(), threading.Event()

    def run(batch: list[Item]) -> None:
        batches.append([item.value for item in batch])
        started.set()
        release.wait(5)
        for item in batch:
            item.finished = True

    runner = GroupRunner(run, take=lambda queue: 2)
    threads = [threading.Thread(target=runner.submit, args=(Item(i),)) for i in range(5)]
    threads[0].start()
    assert started.wait(5)
    for thread in threads[1:]:
        thread.start()
    wait_queued(runner, 4)
    release.set()
    for thread in threads:
        thread.join(5)
    assert [len(b) for b in batches] == [1, 2, 2]


def test_a_failing_batch_raises_in_its_leader_and_leaves_the_next_caller_free_to_run():
    def run(batch: list[Item]) -> None:
        for item in batch:
            item.finished = True
        if batch[0].value < 0:
            raise RuntimeError("disk full")

    runner = GroupRunner(run)
    with pytest.raises(RuntimeError, match="disk full"):
        runner.submit(Item(-1))
    ok = Item(1)
    runner.submit(ok)
    assert ok.finished


def test_idle_waits_for_the_running_batch_and_holds_off_the_next():
    started, release, order = threading.Event(), threading.Event(), []

    def run(batch: list[Item]) -> None:
        started.set()
        release.wait(5)
        order.append("batch")
        for item in batch:
            item.finished = True

    runner = GroupRunner(run)
    worker = threading.Thread(target=runner.submit, args=(Item(0),))
    worker.start()
    assert started.wait(5)
    threading.Timer(0.2, release.set).start()
    with runner.idle():
        order.append("idle")
    worker.join(5)
    assert order == ["batch", "idle"]


def test_submit_all_returns_once_every_item_of_its_group_is_done_in_one_batch():
    batches: list[list[int]] = []

    def run(batch: list[Item]) -> None:
        batches.append([item.value for item in batch])
        for item in batch:
            item.finished = True

    items = [Item(i) for i in range(5)]
    GroupRunner(run).submit_all(items)
    assert batches == [[0, 1, 2, 3, 4]] and all(item.finished for item in items)
