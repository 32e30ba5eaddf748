"""`tailor tune`: each arm's settings searched on the user's own development questions; the Pareto front."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from tailor.cli._common import JsonOption, console, err_console, print_json, progress

app = typer.Typer()


@app.command()
def tune(
    folder: Annotated[
        Path | None, typer.Argument(help="A compare folder: docs/, questions.jsonl, compare.yaml.")
    ] = None,
    docs: Annotated[Path | None, typer.Option(help="Documents folder (chunking is searched).")] = None,
    kb: Annotated[Path | None, typer.Option("--kb", help="An existing knowledge base (its chunking is kept).")] = None,
    questions: Annotated[Path | None, typer.Option(help="Questions jsonl (none: generated).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML file of compare settings.")] = None,
    base_model: Annotated[str | None, typer.Option(help="As in `tailor compare`.")] = None,
    arms: Annotated[str | None, typer.Option(help="Arms to tune, comma-separated: rag, finetuned (documents; the "
                                                  "default), rag, hybrid (examples; the default).")] = None,
    budget: Annotated[str, typer.Option(help="Trials (30) or time (20m, 90s) for the search, shared by the arms; "
                                             "a resumed run counts what the earlier ones spent.")] = "20m",
    rag_share: Annotated[float, typer.Option(help="Part of a time budget the rag arm gets.")] = 0.75,
    reranker: Annotated[str | None, typer.Option(help="CrossEncoder id or path: adds rerank on/off.")] = None,
    early_stop: Annotated[float, typer.Option(help="Share of dev questions a trial answers before it may stop "
                                                   "early; 0: never.")] = 0.5,
    out: Annotated[Path, typer.Option(help="Tune folder: study, caches, report, settings/.")] = Path("out/tune"),
    home: Annotated[Path | None, typer.Option(help="Data dir for models and adapters ($TAILOR_HOME).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars or trial lines.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Search chunking, retrieval, prompt and LoRA settings on dev questions; report the front and held-out scores."""
    from tailor.evaluate.compare import CompareConfig
    from tailor.evaluate.tune import Budget, TuneConfig, run_tune

    overrides: dict[str, Any] = {"docs": docs, "kb": kb, "questions": questions, "base_model": base_model, "home": home}
    try:
        compare = CompareConfig.from_sources(folder, config, overrides)
        chosen = {"arms": [a.strip() for a in arms.split(",") if a.strip()]} if arms is not None else {}
        settings = TuneConfig(compare=compare, out=out, **chosen, budget=Budget.parse(budget), rag_share=rag_share,
                              reranker=reranker, early_stop_fraction=early_stop)
    except ValidationError as exc:
        err_console.print(f"[red]invalid tune configuration[/]\n{escape(str(exc))}")
        raise typer.Exit(2) from exc
    except (FileNotFoundError, ValueError) as exc:
        err_console.print(f"[red]error[/] {escape(str(exc))}")
        raise typer.Exit(2) from exc

    def log(message: str) -> None:
        if not quiet:
            err_console.print(f"[dim]{escape(message)}[/]")

    from tailor.cli.compare import _quiet_libraries

    _quiet_libraries()
    with progress(not quiet and not as_json) as on_progress:
        try:
            result = run_tune(settings, progress=on_progress, log=log)
        except (FileNotFoundError, ValueError) as exc:
            err_console.print(f"[red]error[/] {escape(str(exc))}")
            raise typer.Exit(2) from exc
    if as_json:
        print_json({"paths": {k: str(v) for k, v in result.paths.items()},
                    "arms": {n: {k: a.get(k) for k in ("chosen", "front", "held_out", "search")}
                             for n, a in result.report["arms"].items()}})
        return
    _print_summary(result.report)
    console.print(f"\nReport: [bold]{result.paths['html']}[/]  (JSON: {result.paths['json']}; "
                  f"settings files in {Path(result.paths['json']).parent / 'settings'})")


def _print_summary(report: dict[str, Any]) -> None:
    split = report["split"]
    if split.get("task") == "examples":
        _print_examples(report)
        return
    table = Table(title=f"Held-out accuracy ({split['test']} questions no trial saw), 95% CI")
    for column in ("arm", "trials", "front", "chosen", "tuned", "defaults", "tuned - defaults"):
        table.add_column(column)
    for name, arm in report["arms"].items():
        if "skipped" in arm:
            table.add_row(name, "", "", f"skipped: {escape(arm['skipped'])}", "", "", "")
            continue
        held = arm["held_out"]

        def cell(e: dict[str, Any] | None) -> str:
            return f"{e['mean']:.3f} [{e['low']:.3f}, {e['high']:.3f}]" if e else "-"

        diff = held["difference"]
        table.add_row(name, f"{arm['search']['trials']} ({arm['search']['trial_seconds']:.0f} s)",
                      str(len(arm["front"])), arm["chosen"], cell(held["tuned"]["accuracy"]),
                      cell(held["defaults"]["accuracy"]),
                      f"{diff['diff']:+.3f} [{diff['low']:+.3f}, {diff['high']:+.3f}]" if diff else "-")
    console.print(table)


def _print_examples(report: dict[str, Any]) -> None:
    """An examples folder: the chosen points on dev (test is compare's: `tailor compare DIR --tuned TUNE`)."""
    split = report["split"]
    table = Table(title=f"Chosen on the {split['dev']} dev examples ({report['objectives']['accuracy']}); "
                        f"the {split['test']} test examples were not asked")
    for column in ("arm", "trials", "front", "chosen", "dev accuracy", "defaults on dev", "settings"):
        table.add_column(column, overflow="fold")
    for name, arm in report["arms"].items():
        if "skipped" in arm:
            table.add_row(name, "", "", f"skipped: {escape(arm['skipped'])}", "", "", "")
            continue
        point = arm["front"][0]
        defaults = next((t["values"][0] for t in arm["trials"] if t["defaults"] and t["values"]), None)
        table.add_row(name, str(arm["search"]["trials"]), str(len(arm["front"])), arm["chosen"],
                      f"{point['accuracy']:.3f}", "-" if defaults is None else f"{defaults:.3f}",
                      escape(" ".join(f"{k}={v}" for k, v in point["settings"].items())))
    console.print(table)
    console.print(f"Test: {escape(split['held_out'])}")
