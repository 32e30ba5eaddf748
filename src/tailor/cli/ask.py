"""Answering commands: `tailor ask` and `tailor strategies`.

`--adapter` names a registry adapter (NAME, NAME@VERSION, or its folder under HOME/adapters/); it is
refused unless the `--as-group` groups hold every group it was trained on (`require_adapter_access`),
and when no generator is given its base model is used. Every answer, and every refusal, is recorded in the
audit trail (`tailor.audit`, default `<kb>/audit/`) as caller `cli:<login name>`; `--no-audit` is for the
operator's own experiments: the server records every answer, without exception.
"""

from __future__ import annotations

import getpass
import sqlite3
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from tailor.audit import AuditConfig, AuditLog, default_audit_dir
from tailor.cli._common import JsonOption, console, err_console, fail, open_kb, print_json
from tailor.finetune.registry import AdapterAccessError, AdapterEntry, AdapterRegistry, require_adapter_access
from tailor.generate.base import GeneratorError
from tailor.generate.strategies import STRATEGIES, AskConfig, make_strategy
from tailor.home import default_home
from tailor.records import Answer

app = typer.Typer()


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    kb: Annotated[
        Path | None, typer.Option("--kb", help="Knowledge base folder (strategies that retrieve).")
    ] = None,
    strategy: Annotated[str | None, typer.Option(help="Strategy name; see `tailor strategies`.")] = None,
    generator: Annotated[
        str | None, typer.Option(help="extractive | hf (the bundled smollm2-135m-instruct) | hf:<id, path or .gguf> | openai:<base_url>#<model>.")
    ] = None,
    adapter: Annotated[
        str | None, typer.Option(help="Registry adapter: NAME, NAME@VERSION or its folder (see `tailor adapters ls`).")
    ] = None,
    home: Annotated[Path | None, typer.Option("--home", help="Registry home (default $TAILOR_HOME or ./.tailor).")] = None,
    model: Annotated[str | None, typer.Option(help="Model name for an openai: generator.")] = None,
    as_group: Annotated[list[str] | None, typer.Option("--as-group", help="Ask as these groups.")] = None,
    top_k: Annotated[
        int | None, typer.Option("-k", "--top-k", min=1, help="Context blocks to retrieve.")
    ] = None,
    mode: Annotated[str | None, typer.Option(help="Search mode: dense, bm25 or hybrid.")] = None,
    template: Annotated[str | None, typer.Option(help="Prompt template name or .jinja file.")] = None,
    max_new_tokens: Annotated[int | None, typer.Option(min=1, help="Longest LLM answer in tokens.")] = None,
    temperature: Annotated[float | None, typer.Option(min=0, help="0: greedy decoding.")] = None,
    abstain_below: Annotated[
        float | None, typer.Option(help="Extractive: confidence needed to answer.")
    ] = None,
    support_threshold: Annotated[
        float | None, typer.Option(help="Citation support below is flagged.")
    ] = None,
    nli_model: Annotated[str | None, typer.Option(help="NLI CrossEncoder for citation support.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML file with an `ask:` section.")] = None,
    stream: Annotated[bool, typer.Option("--stream", help="Print the answer as it is generated.")] = False,
    audit_dir: Annotated[
        Path | None, typer.Option("--audit-dir", help="Audit trail folder (default: <kb>/audit or $TAILOR_HOME/audit).")
    ] = None,
    no_audit: Annotated[bool, typer.Option("--no-audit", help="Do not record this answer in the audit trail.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Answer a question with numbered sources, or say that the knowledge base does not contain it."""
    flags = {
        "strategy": strategy,
        "generator": generator,
        "adapter": adapter,
        "model": model,
        "top_k": top_k,
        "mode": mode,
        "template": template,
        "max_new_tokens": max_new_tokens,
        "temperature": temperature,
        "abstain_below": abstain_below,
        "support_threshold": support_threshold,
        "nli_model": nli_model,
    }
    overrides = {k: v for k, v in flags.items() if v is not None}
    groups = as_group or ["public"]
    try:
        base = AskConfig.from_file(config) if config else AskConfig()
        audit_config = AuditConfig.from_file(config) if config else AuditConfig()
        settings = AskConfig.model_validate({**base.model_dump(), **overrides})
        entry = None
        if settings.adapter:
            try:
                entry = _registered_adapter(settings.adapter, home)
                require_adapter_access(entry, groups)  # checked before any weight is loaded
            except AdapterAccessError as exc:
                reason, refused, ref = str(exc), settings, entry.ref if entry else settings.adapter
                if not no_audit:
                    _audit(audit_dir or default_audit_dir(kb), audit_config, lambda log: log.record_refusal(
                        question, reason, strategy=refused.strategy, generator=refused.generator or "",
                        caller=_caller(), groups=groups, kb_version=None, adapter=ref))
                err_console.print(f"[red]access denied:[/] {escape(reason)}")
                raise typer.Exit(1) from exc
            settings = _with_adapter(settings, entry, generator is not None or "generator" in base.model_fields_set)
        knowledge = open_kb(kb) if kb else None

        def record(answer: Answer, **outcome: str) -> None:
            if not no_audit:
                _audit(audit_dir or default_audit_dir(kb), audit_config, lambda log: log.record(
                    answer, caller=_caller(), groups=groups, kb_version=knowledge.version if knowledge else None,
                    adapter=entry.ref if entry else None, **outcome))

        answerer = make_strategy(settings, knowledge)
        if stream and not as_json:
            interrupted = partial(record, outcome="interrupted", reason="interrupted at the terminal")  # Ctrl-C
            answer = _stream(answerer.stream(question, groups, on_close=interrupted))
        else:
            answer = answerer.answer(question, groups)
    except ValueError as exc:
        fail(str(exc))
    except GeneratorError as exc:
        err_console.print(f"[red]error[/] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    record(answer)
    if as_json:
        print_json(answer.to_dict())
    else:
        _print(answer, printed_text=stream)


def _registered_adapter(spec: str, home: Path | None) -> AdapterEntry:
    """The registry entry `spec` names (AdapterAccessError for a folder outside the registry); exit 1
    when there is none."""
    try:
        return AdapterRegistry(home or default_home()).resolve(spec)
    except KeyError as exc:  # no such adapter in the registry
        err_console.print(f"[red]error:[/] {escape(str(exc.args[0]))}")
        raise typer.Exit(1) from exc


def _with_adapter(settings: AskConfig, entry: AdapterEntry, generator_given: bool) -> AskConfig:
    """Load the entry's weights; without a generator named, onto the base model it was trained from."""
    update: dict[str, Any] = {"adapter": str(entry.weights)}
    if not generator_given:
        update["generator"] = f"hf:{entry.base_model}"
    return settings.model_copy(update=update)


def _caller() -> str:
    """`cli:<login name>`: who ran `tailor ask` on this machine."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in the environment or the password database
        return "cli"


def _audit(folder: Path, config: AuditConfig, write: Callable[[AuditLog], None]) -> None:
    """Append to the audit trail (an answer or a refusal); an answer that cannot be recorded is not shown."""
    try:
        with AuditLog.open(folder, config) as log:
            write(log)
    except (OSError, sqlite3.Error) as exc:
        err_console.print(f"[red]error:[/] could not record the answer in the audit trail at {folder}: {exc} "
                          "(--no-audit skips it)")
        raise typer.Exit(1) from exc


def _stream(pieces: Any) -> Answer:
    """Print the pieces as they come; a stream cut short (Ctrl-C) is closed, so that it is recorded."""
    try:
        while True:
            try:
                piece = next(pieces)
            except StopIteration as done:
                sys.stdout.write("\n")
                return done.value
            sys.stdout.write(piece)
            sys.stdout.flush()
    finally:
        pieces.close()


def _print(answer: Answer, printed_text: bool) -> None:
    if not printed_text:
        console.print(escape(answer.text))
    if answer.abstained:
        console.print("[dim](abstained: no answer in the knowledge base for these groups)[/]")
    cited = {}
    for citation in answer.citations:
        cited.setdefault(citation.marker, citation)
    if cited:
        console.print("\n[bold]Sources[/]")
    for marker, c in sorted(cited.items()):
        page = f" p.{c.page}" if c.page else ""
        flag = "" if c.supported else " [yellow](weak support)[/]"
        console.print(f"[bold][{marker}][/] {escape(c.title)} [dim]{escape(c.source)}{page}[/]{flag}")
        console.print(f"    \u201c{escape(c.quote)}\u201d [dim]chars {c.start}-{c.end}[/]")
    if answer.dropped_markers:
        listed = ", ".join(f"[{n}]" for n in answer.dropped_markers)
        err_console.print(f"[yellow]dropped citations to blocks that were not given: {listed}[/]")
    for sentence in answer.unsupported:
        err_console.print(f"[yellow]unsupported:[/] {escape(sentence)}")
    timings = ", ".join(f"{k} {v:.1f}" for k, v in answer.timings_ms.items())
    console.print(f"[dim]{answer.strategy} / {answer.generator}: {timings} (ms)[/]")


@app.command()
def strategies(as_json: JsonOption = False) -> None:
    """List the answering strategies that `--strategy` accepts."""
    rows = [
        {
            "name": name,
            "retrieves": spec.retrieves,
            "needs_adapter": spec.needs_adapter,
            "template": spec.template,
            "description": spec.description,
        }
        for name, spec in STRATEGIES.items()
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("name", "retrieves", "adapter", "template", "description")
    for row in rows:
        table.add_row(
            row["name"],
            "yes" if row["retrieves"] else "no",
            "needed" if row["needs_adapter"] else "-",
            row["template"],
            escape(row["description"]),
        )
    console.print(table)
