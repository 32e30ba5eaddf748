"""Progress where stderr is not a terminal: a line per phase, its steps (with an ETA) and its end."""

from __future__ import annotations

import io

from rich.console import Console

from tailor.cli import _common
from tailor.cli._common import PhaseLines, progress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def lines(out: io.StringIO) -> list[str]:
    return [line.split(" ", 1)[1] for line in out.getvalue().splitlines()]  # without the time of day


def test_a_redirected_run_prints_each_phase_its_tenths_at_most_once_a_minute_and_its_end():
    out, clock = io.StringIO(), Clock()
    report = PhaseLines(Console(file=out, width=200), clock)
    report("base model (smollm2, converted once)", 0, 1)
    clock.now = 40.0
    report("base model (smollm2, converted once)", 1, 1)
    for done in range(0, 65, 8):  # answering in batches of 8, 10 s a batch
        report("answering: rag", done, 64)
        clock.now += 10.0
    assert lines(out) == [
        "base model (smollm2, converted once): started, 0/1",
        "base model (smollm2, converted once): done, 1/1 in 40 s",
        "answering: rag: started, 0/64",
        "answering: rag: 8/64, 10 s so far, about 1 min 10 s to go",
        "answering: rag: 56/64, 1 min 10 s so far, about 10 s to go",
        "answering: rag: done, 64/64 in 1 min 20 s",
    ]


def test_a_phase_run_again_is_reported_again():
    out, clock = io.StringIO(), Clock()
    report = PhaseLines(Console(file=out, width=200), clock)
    for _ in range(2):
        report("training the qa adapter", 0, 1)
        clock.now += 5.0
        report("training the qa adapter", 1, 1)
    assert lines(out) == ["training the qa adapter: started, 0/1", "training the qa adapter: done, 1/1 in 5 s"] * 2


def test_progress_gives_lines_where_stderr_is_not_a_terminal(monkeypatch):
    monkeypatch.setattr(_common, "err_console", Console(file=io.StringIO(), force_terminal=False))
    with progress(True) as on_progress:
        assert isinstance(on_progress, PhaseLines)
    with progress(False) as on_progress:
        assert on_progress is None


def test_the_eta_counts_the_rate_since_the_first_line():
    """Answering reports its first batch already done: the ETA is at the rate of the batches after it."""
    out, clock = io.StringIO(), Clock()
    report = PhaseLines(Console(file=out, width=200), clock)
    report("answer: rag", 8, 40)
    clock.now = 6.0
    report("answer: rag", 16, 40)
    assert lines(out) == ["answer: rag: started, 8/40", "answer: rag: 16/40, 6 s so far, about 18 s to go"]
