"""Shared pieces of the command line: consoles, common options, progress bars."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tailor.config_files import ConfigFileError
from tailor.kb.config import KBConfig
from tailor.kb.ingest import ProgressCallback
from tailor.kb.knowledge_base import KnowledgeBase

EXIT_PARTIAL = 3  # the run finished, but some inputs were rejected (listed in the output)

console = Console()
err_console = Console(stderr=True)

KbOption = Annotated[
    Path, typer.Option("--kb", help="Knowledge base: a folder, a Milvus Lite .db file or a milvus://host URI.")
]
ConfigOption = Annotated[Path | None, typer.Option("--config", help="YAML file with a `kb:` section.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def read_kb_config(config: Path | None) -> KBConfig:
    """The `kb:` settings of `--config` (defaults without one); a bad file is a usage error naming it."""
    try:
        return KBConfig.from_file(config) if config else KBConfig()
    except ConfigFileError as exc:
        raise typer.BadParameter(str(exc), param_hint="--config") from exc


def open_kb(kb: Path, config: Path | None = None, must_exist: bool = True) -> KnowledgeBase:
    """The knowledge base at `--kb`; only commands that fill one (`must_exist=False`) create it."""
    settings = read_kb_config(config) if config else None
    try:
        return KnowledgeBase.open(kb, settings, must_exist=must_exist)
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc), param_hint="--kb") from exc


def print_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, ensure_ascii=False, default=str))


@contextmanager
def progress(enabled: bool) -> Iterator[ProgressCallback | None]:
    """A rich progress bar per phase on stderr; yields the callback the library calls."""
    if not enabled:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update
