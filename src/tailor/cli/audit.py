"""`tailor audit query`: which answers used a document, what a caller saw, what was refused."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tailor.audit import AuditEntry, AuditLog, default_audit_dir, mark_deleted
from tailor.cli._common import JsonOption, console, err_console, print_json


class Outcome(StrEnum):
    answered = "answered"
    refused = "refused"
    interrupted = "interrupted"


audit_app = typer.Typer(no_args_is_help=True, help="The audit trail of answers: query it.")

RELATIVE = re.compile(r"^(\d+)([smhdw])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str) -> datetime:
    """An ISO date or time (local time unless it names a zone), or an age: 30m, 24h, 7d, 2w."""
    if match := RELATIVE.match(text.strip()):
        return datetime.now().astimezone() - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"--since {text!r}: expected an ISO date/time (2026-11-01, 2026-11-01T09:00) "
                                 "or an age (30m, 24h, 7d)") from exc


def _mark_deleted(entries: list[AuditEntry], kb: Path) -> list[AuditEntry]:
    """Flag the documents the knowledge base no longer has, looked up unrestricted (an auditor's view)."""
    from tailor.kb.knowledge_base import open_existing_store

    try:
        store = open_existing_store(kb)
    except FileNotFoundError as exc:
        raise typer.BadParameter(f"--kb {kb}: no knowledge base there") from exc
    try:
        return mark_deleted(entries, lambda doc_id: store.get_document(doc_id) is not None)
    finally:
        store.close()


@audit_app.command("query")
def query(
    doc: Annotated[str | None, typer.Option("--doc", help="Answers given or citing this document id.")] = None,
    key: Annotated[str | None, typer.Option("--key", help="Answers to this caller (an API key's id; cli:<user>).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="From this time: ISO date/time or an age (24h, 7d).")] = None,
    kb: Annotated[
        Path | None, typer.Option("--kb", help="Knowledge base: its trail, and which documents were deleted since.")
    ] = None,
    audit_dir: Annotated[Path | None, typer.Option("--dir", help="Trail folder (default: the KB's, see --kb).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most answers shown, newest first.")] = 1000,
    outcome: Annotated[
        Outcome | None, typer.Option("--outcome", help="Only answers that ended so (refused: an adapter the caller "
                                     "may not use; interrupted: a stream closed before its end).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Recorded answers and refusals, newest first: by document (--doc), caller (--key), time (--since) and
    outcome (--outcome), combined."""
    folder = audit_dir or default_audit_dir(kb)
    if not folder.is_dir():
        err_console.print(f"[red]error:[/] no audit trail at {folder}")
        raise typer.Exit(1)
    since_time = parse_since(since) if since else None
    with AuditLog.open(folder) as log:
        entries = log.query(doc_id=doc, key_id=key, since=since_time, limit=limit, outcome=outcome.value if outcome else None)
    if kb is not None:
        entries = _mark_deleted(entries, kb)
    if as_json:
        print_json([entry.to_dict() for entry in entries])
        return
    _print(entries, folder)


def _documents(entry: AuditEntry) -> str:
    cited = {ref.doc_id for ref in entry.cited}
    deleted = set(entry.deleted_doc_ids or ())
    return ", ".join(
        escape(d) + ("*" if d in cited else "") + (" [red](deleted)[/]" if d in deleted else "") for d in entry.doc_ids
    )


def _outcome(entry: AuditEntry) -> str:
    if entry.outcome != "answered":
        return f"[red]{entry.outcome}[/]" + (f": {escape(entry.reason)}" if entry.reason else "")
    return "abstained" if entry.abstained else "answered"


def _print(entries: list[AuditEntry], folder: Path) -> None:
    table = Table("time (UTC)", "caller", "groups", "strategy", "adapter", "KB v", "documents (* cited)", "outcome")
    for e in entries:
        adapter = f"{e.adapter}@{e.adapter_version}" if e.adapter_version is not None else e.adapter or "-"
        table.add_row(
            e.at.strftime("%Y-%m-%d %H:%M:%S"), escape(e.caller or "-"), escape(",".join(e.groups)), e.strategy,
            escape(adapter), str(e.kb_version) if e.kb_version is not None else "-", _documents(e),
            _outcome(e),
        )
    console.print(table)
    console.print(f"[dim]{len(entries)} record(s) from {folder}[/]")
