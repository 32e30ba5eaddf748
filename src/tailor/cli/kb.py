"""Knowledge-base commands: ingest, search, kb stats|ls|rm|versions|copy, eval retrieval."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tailor.cli._common import (
    EXIT_PARTIAL,
    ConfigOption,
    JsonOption,
    KbOption,
    console,
    err_console,
    open_kb,
    print_json,
    progress,
    read_kb_config,
)
from tailor.kb.embedding_pool import parse_devices
from tailor.kb.knowledge_base import KnowledgeBase

app = typer.Typer()
kb_app = typer.Typer(no_args_is_help=True, help="Inspect and edit a knowledge base.")
eval_app = typer.Typer(no_args_is_help=True, help="Measure retrieval and answers.")


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to load.")],
    kb: KbOption,
    group: Annotated[list[str] | None, typer.Option("--group", help="Access group for files without one.")] = None,
    sync: Annotated[bool, typer.Option("--sync", help="Remove documents no file holds any more.")] = False,
    embed_devices: Annotated[
        str | None,
        typer.Option("--embed-devices", help="Embed with one worker per device: cuda:0,cuda:1 or cpu,cpu."),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Load, chunk, embed and index documents (the knowledge base is created if missing); only new or changed
    ones are re-embedded."""
    kb_config = read_kb_config(config)
    if embed_devices:
        try:
            devices = parse_devices([d for d in embed_devices.split(",") if d.strip()])
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--embed-devices") from exc
        kb_config = kb_config.model_copy(update={"ingest": kb_config.ingest.model_copy(update={"embed_devices": devices})})
    knowledge_base = KnowledgeBase.open(kb, kb_config)
    with progress(not as_json) as on_progress:
        report = knowledge_base.ingest(paths, groups=group, sync=sync, on_progress=on_progress)
    if as_json:
        print_json(report.to_dict())
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
    result = open_kb(kb, config).search(query, k=k, mode=mode, groups=groups, filters=filters)
    if as_json:
        print_json(result.to_dict())
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
    stats = open_kb(kb).stats()
    if as_json:
        print_json(stats)
        return
    for key, value in stats.items():
        console.print(f"[bold]{key}[/]: {value}")


@kb_app.command("ls")
def kb_ls(kb: KbOption, as_json: JsonOption = False) -> None:
    """List every document (administrator view: all groups)."""
    docs = open_kb(kb).documents(groups=None)
    rows = [
        {"id": d.id, "title": d.title, "groups": list(d.groups), "chunks": d.n_chunks, "version": d.version}
        for d in docs
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "title", "groups", "chunks", "version")
    for row in rows:
        table.add_row(row["id"], row["title"], ",".join(row["groups"]), str(row["chunks"]), str(row["version"]))
    console.print(table)


@kb_app.command("rm")
def kb_rm(doc_ids: Annotated[list[str], typer.Argument(help="Document ids to delete.")], kb: KbOption) -> None:
    """Delete documents; commits a new version."""
    version = open_kb(kb).remove(doc_ids)
    if version is None:
        err_console.print("none of those documents is in the knowledge base")
        raise typer.Exit(1)
    console.print(f"removed; version {version}")


@kb_app.command("versions")
def kb_versions(kb: KbOption, as_json: JsonOption = False) -> None:
    """The version log: what each commit added, updated and removed."""
    versions = open_kb(kb).versions()
    if as_json:
        print_json([v.__dict__ for v in versions])
        return
    table = Table("version", "added", "updated", "removed", "chunks", "note")
    for v in versions:
        table.add_row(str(v.version), str(v.added), str(v.updated), str(v.removed), str(v.chunks), v.note)
    console.print(table)


@kb_app.command("copy")
def kb_copy(
    source: Annotated[str, typer.Argument(help="Knowledge base to copy: folder, file.db or milvus://host:port.")],
    destination: Annotated[str, typer.Argument(help="Where to copy it (created if missing; then mirrors SOURCE).")],
    queries: Annotated[int, typer.Option(min=0, help="Sample queries compared on both stores.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Copy a knowledge base to another backend reusing its vectors, then compare search results."""
    from tailor.kb.copy import copy_store

    report = copy_store(source, destination, queries=queries)
    if as_json:
        print_json(report.to_dict())
    else:
        console.print(
            f"[bold]version {report.version}[/] of {destination}: {report.documents} documents, {report.chunks} "
            f"chunks copied in {report.seconds:.1f}s; top-10 overlap on {report.queries} queries: "
            f"dense {report.dense_overlap:.3f}, bm25 {report.text_overlap:.3f}"
        )
    if not report.verified:
        err_console.print("[red]search results differ between the two stores[/] (overlap below 0.9)")
        raise typer.Exit(1)


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

    try:
        dataset = load_beir(beir, split)
    except ValueError as exc:  # the message names the file and line
        raise typer.BadParameter(str(exc), param_hint="--beir") from exc
    knowledge_base = open_kb(kb or beir / ".tailor-kb", config, must_exist=False)
    with progress(not as_json) as on_progress:
        knowledge_base.ingest_documents(beir_documents(dataset), on_progress=on_progress)
    modes = mode or ["bm25", "dense", "hybrid"]
    results = evaluate_modes(dataset, lambda q, k, m: knowledge_base.search(q, k=k, mode=m), modes=modes)
    if as_json:
        print_json(results)
        return
    table = Table("mode", "nDCG@10", "Recall@10", "Recall@100", "MRR@10", title=f"{beir.name} ({split})")
    for name, m in results.items():
        table.add_row(name, *(f"{m[key]:.4f}" for key in ("ndcg@10", "recall@10", "recall@100", "mrr@10")))
    console.print(table)

