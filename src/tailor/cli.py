"""The `tailor` command line: a thin layer over the Python API."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn  # noqa: E402
from rich.table import Table  # noqa: E402

from tailor.kb.config import KBConfig  # noqa: E402
from tailor.kb.knowledge_base import KnowledgeBase  # noqa: E402

EXIT_PARTIAL = 3  # the run finished, but some inputs were rejected (listed in the output)

app = typer.Typer(no_args_is_help=True, help="Adapt a language model to your data by RAG, LoRA or both.")
kb_app = typer.Typer(no_args_is_help=True, help="Inspect and edit a knowledge base.")
eval_app = typer.Typer(no_args_is_help=True, help="Measure retrieval and answers.")
app.add_typer(kb_app, name="kb")
app.add_typer(eval_app, name="eval")
console = Console()
err_console = Console(stderr=True)

KbOption = Annotated[Path, typer.Option("--kb", help="Knowledge base folder (created if missing).")]
ConfigOption = Annotated[Path | None, typer.Option("--config", help="YAML file with a `kb:` section.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _open(kb: Path, config: Path | None = None) -> KnowledgeBase:
    return KnowledgeBase.open(kb, KBConfig.from_file(config) if config else None)


def _print_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, ensure_ascii=False, default=str))


@contextmanager
def _progress(enabled: bool):  # noqa: ANN202 - yields a progress callback
    if not enabled:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(f"{phase} chunks", total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to load.")],
    kb: KbOption,
    group: Annotated[list[str] | None, typer.Option("--group", help="Access group for files without one.")] = None,
    sync: Annotated[bool, typer.Option("--sync", help="Remove documents whose files are gone.")] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Load, chunk, embed and index documents; only new or changed ones are re-embedded."""
    knowledge_base = _open(kb, config)
    with _progress(not as_json) as on_progress:
        report = knowledge_base.ingest(paths, groups=group, sync=sync, on_progress=on_progress)
    if as_json:
        _print_json(report.to_dict())
    else:
        version = f"version {report.version}" if report.version else "no change, version unchanged"
        console.print(
            f"[bold]{version}[/]: {len(report.added)} added, {len(report.updated)} updated, "
            f"{len(report.removed)} removed, {report.unchanged} unchanged, {report.chunks} chunks embedded "
            f"in {report.seconds:.1f}s"
        )
        for error in report.errors:
            err_console.print(f"[red]rejected[/] {error.path}: {error.reason}")
    if report.partial:
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="The question or keywords.")],
    kb: KbOption,
    mode: Annotated[str | None, typer.Option(help="dense, bm25 or hybrid (default from config).")] = None,
    k: Annotated[int, typer.Option("-k", "--top-k", min=1, help="Hits to return.")] = 5,
    as_group: Annotated[list[str] | None, typer.Option("--as-group", help="Search as these groups.")] = None,
    all_groups: Annotated[bool, typer.Option("--all-groups", help="Administrator: see every group.")] = False,
    filter_: Annotated[list[str] | None, typer.Option("--filter", help="Metadata filter key=value.")] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search the knowledge base as a set of access groups (default: public)."""
    groups = None if all_groups else (as_group or ["public"])
    filters = dict(_key_value(f) for f in filter_ or [])
    result = _open(kb, config).search(query, k=k, mode=mode, groups=groups, filters=filters)
    if as_json:
        _print_json(result.to_dict())
        return
    if not result.hits:
        console.print("no hits")
    for rank, hit in enumerate(result.hits, start=1):
        where = " > ".join(hit.chunk.heading_path)
        page = f" p.{hit.chunk.page}" if hit.chunk.page else ""
        console.print(f"[bold]{rank}. {hit.doc_title}[/] [dim]{hit.doc_source}{page} {where}[/]  score={hit.score:.4f}")
        console.print(f"   {hit.chunk.text[:300]}".replace("\n", " "))
    timings = ", ".join(f"{k} {v:.1f}" for k, v in result.timings_ms.items())
    console.print(f"[dim]{timings} (ms)[/]")


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"--filter wants key=value, got {text!r}")
    return key, value


@kb_app.command("stats")
def kb_stats(kb: KbOption, as_json: JsonOption = False) -> None:
    """Documents, chunks, groups, embedder and version."""
    stats = _open(kb).stats()
    if as_json:
        _print_json(stats)
        return
    for key, value in stats.items():
        console.print(f"[bold]{key}[/]: {value}")


@kb_app.command("ls")
def kb_ls(kb: KbOption, as_json: JsonOption = False) -> None:
    """List every document (administrator view: all groups)."""
    docs = _open(kb).documents(groups=None)
    rows = [
        {"id": d.id, "title": d.title, "groups": list(d.groups), "chunks": d.n_chunks, "version": d.version}
        for d in docs
    ]
    if as_json:
        _print_json(rows)
        return
    table = Table("id", "title", "groups", "chunks", "version")
    for row in rows:
        table.add_row(row["id"], row["title"], ",".join(row["groups"]), str(row["chunks"]), str(row["version"]))
    console.print(table)


@kb_app.command("rm")
def kb_rm(doc_ids: Annotated[list[str], typer.Argument(help="Document ids to delete.")], kb: KbOption) -> None:
    """Delete documents; commits a new version."""
    version = _open(kb).remove(doc_ids)
    if version is None:
        err_console.print("none of those documents is in the knowledge base")
        raise typer.Exit(1)
    console.print(f"removed; version {version}")


@kb_app.command("versions")
def kb_versions(kb: KbOption, as_json: JsonOption = False) -> None:
    """The version log: what each commit added, updated and removed."""
    versions = _open(kb).versions()
    if as_json:
        _print_json([v.__dict__ for v in versions])
        return
    table = Table("version", "added", "updated", "removed", "chunks", "note")
    for v in versions:
        table.add_row(str(v.version), str(v.added), str(v.updated), str(v.removed), str(v.chunks), v.note)
    console.print(table)


@eval_app.command("retrieval")
def eval_retrieval(
    beir: Annotated[Path, typer.Option("--beir", help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/.")],
    kb: Annotated[Path | None, typer.Option("--kb", help="Where to build the index (default DIR/.tailor-kb).")] = None,
    mode: Annotated[list[str] | None, typer.Option("--mode", help="dense, bm25, hybrid (repeatable).")] = None,
    split: Annotated[str, typer.Option(help="qrels split.")] = "test",
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """nDCG@10, Recall@10/100 and MRR@10 of each search mode on a BEIR-format dataset."""
    from tailor.evaluate.beir import load_beir
    from tailor.evaluate.retrieval_eval import beir_documents, evaluate_modes

    dataset = load_beir(beir, split)
    knowledge_base = _open(kb or beir / ".tailor-kb", config)
    with _progress(not as_json) as on_progress:
        knowledge_base.ingest_documents(beir_documents(dataset), on_progress=on_progress)
    modes = mode or ["bm25", "dense", "hybrid"]
    results = evaluate_modes(dataset, lambda q, k, m: knowledge_base.search(q, k=k, mode=m), modes=modes)
    if as_json:
        _print_json(results)
        return
    table = Table("mode", "nDCG@10", "Recall@10", "Recall@100", "MRR@10", title=f"{beir.name} ({split})")
    for name, m in results.items():
        table.add_row(name, *(f"{m[key]:.4f}" for key in ("ndcg@10", "recall@10", "recall@100", "mrr@10")))
    console.print(table)


if __name__ == "__main__":
    app()
