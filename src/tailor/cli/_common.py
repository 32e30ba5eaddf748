"""Shared pieces of the command line: consoles, common options, progress bars, and `fail`: bad input is
one line on stderr naming the file and field (never wrapped, no traceback) and exit code 2."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tailor.config_files import ConfigFileError
from tailor.kb.config import KBConfig
from tailor.kb.ingest import ProgressCallback
from tailor.kb.knowledge_base import KnowledgeBase

EXIT_PARTIAL = 3  # the run finished, but some inputs were rejected (listed in the output)

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # an error stays one line, whatever the terminal's width

KbOption = Annotated[
    Path, typer.Option("--kb", help="Knowledge base: a folder, a Milvus Lite .db file or a milvus://host URI.")
]
ConfigOption = Annotated[Path | None, typer.Option("--config", help="YAML file with a `kb:` section.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def fail(message: str, code: int = 2) -> NoReturn:
    """`error <message>` as one line on stderr, then exit `code` (2: bad input)."""
    err_console.print(f"[red]error[/] {escape(' '.join(message.split()))}")
    raise typer.Exit(code)


def read_kb_config(config: Path | None) -> KBConfig:
    """The `kb:` settings of `--config` (defaults without one); a bad file is one line naming file and field."""
    try:
        return KBConfig.from_file(config) if config else KBConfig()
    except ConfigFileError as exc:
        fail(f"--config {exc}")


def open_kb(kb: Path, config: Path | None = None, must_exist: bool = True) -> KnowledgeBase:
    """The knowledge base at `--kb`; only commands that fill one (`must_exist=False`) create it."""
    settings = read_kb_config(config) if config else None
    try:
        return KnowledgeBase.open(kb, settings, must_exist=must_exist)
    except FileNotFoundError as exc:
        fail(f"--kb {exc}")


def print_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, ensure_ascii=False, default=str))


class PhaseLines:
    """Progress as plain lines, for a stderr that is not a terminal (redirected to a file or a CI log), where a
    bar draws nothing: a line when a phase starts, at each further tenth of it done (at most one a minute
    after the first), and when it ends, with the time taken and, on the way, an ETA."""

    EVERY_S = 60.0

    def __init__(self, console: Console, clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.clock = clock
        # phase -> (first line at, done then, last line at, tenths shown; 11 once it ended)
        self.phases: dict[str, tuple[float, int, float, int]] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = self.clock()
        finished = done >= total
        if phase not in self.phases or (self.phases[phase][3] > 10 and not finished):  # new, or begun again
            self.phases[phase] = (now, done, now, 11 if finished else 0)
            self._line(f"{phase}: {'done' if finished else 'started'}, {done}/{total}")
            return
        started, first, last, shown = self.phases[phase]
        tenths = 10 * done // max(total, 1)
        if finished and shown <= 10:
            self._line(f"{phase}: done, {done}/{total} in {_duration(now - started)}")
            self.phases[phase] = (started, first, now, 11)
        elif not finished and tenths > shown and (shown == 0 or now - last >= self.EVERY_S):
            eta = (now - started) / max(done - first, 1) * (total - done)  # at the rate since the first line
            self._line(f"{phase}: {done}/{total}, {_duration(now - started)} so far, about {_duration(eta)} to go")
            self.phases[phase] = (started, first, now, tenths)

    def _line(self, text: str) -> None:
        self.console.print(f"{time.strftime('%H:%M:%S')} {text}", markup=False, highlight=False, soft_wrap=True)


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


@contextmanager
def progress(enabled: bool) -> Iterator[ProgressCallback | None]:
    """A rich progress bar per phase on stderr (a line per phase and step where stderr is not a terminal);
    yields the callback the library calls."""
    if not enabled:
        yield None
        return
    if not err_console.is_terminal:
        yield PhaseLines(err_console)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update
