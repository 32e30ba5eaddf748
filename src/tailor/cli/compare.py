"""`tailor compare`: RAG vs fine-tuning vs both on your documents and questions, with a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from tailor.cli._common import JsonOption, console, err_console, print_json, progress
from tailor.cli.compare_since import build_gate, exit_code, print_history, print_since

app = typer.Typer()


@app.command()
def compare(
    folder: Annotated[
        Path | None, typer.Argument(help="A compare folder: docs/, questions.jsonl, changes/, compare.yaml.")
    ] = None,
    docs: Annotated[Path | None, typer.Option(help="Documents folder to ingest.")] = None,
    kb: Annotated[Path | None, typer.Option("--kb", help="An existing knowledge base instead of --docs.")] = None,
    questions: Annotated[Path | None, typer.Option(help="Questions jsonl (none: generated).")] = None,
    changes: Annotated[Path | None, typer.Option(help="Change set folder for the freshness probe.")] = None,
    out: Annotated[Path | None, typer.Option(help="Report folder (default out/compare).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML file of compare settings.")] = None,
    base_model: Annotated[
        str | None, typer.Option(help="smollm2-135m-instruct (default) | <.gguf file> | <hf id or path> | scratch "
                                      "| openai:<url>#<model>.")
    ] = None,
    arms: Annotated[str | None, typer.Option(help="Comma-separated arm names to run (default: all).")] = None,
    retrain: Annotated[bool, typer.Option("--retrain", help="Freshness: retrain adapters, timed.")] = False,
    judge: Annotated[str | None, typer.Option(help="Generator spec of an LLM judge (optional).")] = None,
    max_questions: Annotated[int | None, typer.Option(min=1, help="Ask only the first N questions.")] = None,
    sample: Annotated[int | None, typer.Option(
        min=0, help="With question_split (or examples): ask a stratified sample of N questions (held-out examples) "
        "of its part; 0: all of them.")] = None,
    home: Annotated[Path | None, typer.Option(help="Data dir for models and adapters ($TAILOR_HOME).")] = None,
    tuned: Annotated[Path | None, typer.Option(
        help="A `tailor tune` folder: each tuned arm runs at its front point with the best dev accuracy.")] = None,
    tuned_point: Annotated[list[str] | None, typer.Option(
        help="With --tuned: run an arm at another front point, e.g. rag-2 (see the tune report).")] = None,
    baseline: Annotated[Path | None, typer.Option(
        help="An earlier compare OUT folder or its report.json: the report says what changed since.")] = None,
    fail_on: Annotated[list[str] | None, typer.Option(
        help="Gate (with --baseline): regression (an arm's primary metric dropped beyond its 95% CI) | "
             "verdict-change. Repeatable.")] = None,
    minimum: Annotated[list[str] | None, typer.Option(
        "--min", help="Gate: ARM.MEASURE=VALUE, a metric's mean (or p50_ms, per_1000_queries) at least VALUE, "
                      "e.g. rag.accuracy=0.55. Repeatable.")] = None,
    maximum: Annotated[list[str] | None, typer.Option(
        "--max", help="Gate: ARM.MEASURE=VALUE at most VALUE, e.g. rag.p50_ms=800. Repeatable.")] = None,
    history: Annotated[Path | None, typer.Option(
        help="Print the runs recorded in this OUT folder's history.jsonl and exit (runs nothing).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Ask the same questions through closed-book, RAG, fine-tuned and hybrid arms; measure; recommend.

    Exit codes: 0 done (and the gate passed); 2 bad input; 3 with a gate, the run was partial (question lines
    or documents skipped) and no condition failed; 4 a gate condition failed, one line each."""
    if history:
        print_history(history, as_json)
        return
    from tailor.evaluate.compare import CompareConfig, run_compare  # torch and transformers: only when run

    overrides: dict[str, Any] = {"docs": docs, "kb": kb, "questions": questions, "changes": changes, "out": out,
                                 "base_model": base_model, "judge": judge, "max_questions": max_questions,
                                 "home": home, "retrain": retrain or None}
    try:
        settings = CompareConfig.from_sources(folder, config, overrides)
        if tuned:
            settings = _apply_tuned(settings, tuned, tuned_point or [])
        if arms:
            wanted = [a.strip() for a in arms.split(",") if a.strip()]
            unknown = sorted(set(wanted) - {a.name for a in settings.arms})
            if unknown:
                raise ValueError(f"--arms: unknown arm(s) {unknown}; configured: {[a.name for a in settings.arms]}")
            settings = settings.model_copy(update={"arms": [a for a in settings.arms if a.name in wanted]})
        if sample is not None and settings.examples is not None:
            examples = settings.examples.model_copy(update={"max_test": sample or None})
            settings = settings.model_copy(update={"examples": examples})
        elif sample is not None:
            if settings.question_split is None:
                raise ValueError("--sample samples the questions of question_split, and the configuration has none")
            split = settings.question_split.model_copy(update={"sample": sample or None})
            settings = settings.model_copy(update={"question_split": split})
        gate = build_gate(fail_on or [], minimum or [], maximum or [], baseline, [a.name for a in settings.arms])
    except ValidationError as exc:
        err_console.print(f"[red]invalid compare configuration[/]\n{escape(str(exc))}")
        raise typer.Exit(2) from exc
    except (FileNotFoundError, ValueError) as exc:
        err_console.print(f"[red]error[/] {escape(str(exc))}")
        raise typer.Exit(2) from exc

    def log(message: str) -> None:
        err_console.print(f"[dim]{escape(message)}[/]")

    _quiet_libraries()

    with progress(not quiet and not as_json) as on_progress:
        try:
            result = run_compare(settings, progress=on_progress, log=log, baseline=baseline)
        except (FileNotFoundError, ValueError) as exc:
            err_console.print(f"[red]error[/] {escape(str(exc))}")
            raise typer.Exit(2) from exc
    report = result.report
    failures = gate.check(report)
    if as_json:
        print_json({"paths": {k: str(v) for k, v in result.paths.items()},
                    "recommendation": report["recommendation"], "metrics": report["metrics"],
                    "baseline": report.get("baseline"), "gate": {"active": gate.active, "failures": failures}})
    else:
        _print_summary(report)
        print_since(report.get("baseline"))
        console.print(f"\nReport: [bold]{result.paths['html']}[/]  (JSON: {result.paths['json']})")
    raise typer.Exit(exit_code(gate, failures, report, as_json))


def _apply_tuned(settings: Any, folder: Path, points: list[str]) -> Any:
    """Each tuned arm's settings file (its chosen front point, or the one named in `points`) applied."""
    from tailor.evaluate.compare.config import with_tuned
    from tailor.evaluate.tune.settings_files import read_settings_file, tuned_settings_files

    for path in tuned_settings_files(folder, points):
        settings = with_tuned(settings, read_settings_file(path))
    return settings


def _quiet_libraries() -> None:
    """One progress bar per phase is ours; the libraries' own bars and deprecation chatter would bury it."""
    import warnings

    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)


def _print_summary(report: dict[str, Any]) -> None:
    metric = report["primary_metric"]
    table = Table(title=f"{report['questions']['count']} questions; {metric} with 95% CI")
    longest = max((len(arm["name"]) for arm in report["arms"]), default=3)
    table.add_column("arm", no_wrap=True, min_width=longest)  # names are never cut ("closed_b…")
    table.add_column("generator / model", overflow="fold")  # a long path folds onto more lines, whole
    for column in (metric, "abstain ok", "grounded", "p50 ms", "per 1k queries"):
        table.add_column(column, overflow="fold")
    for arm in report["arms"]:
        name = arm["name"]
        if arm["status"] != "ran":
            table.add_row(escape(name), escape(arm["generator"]), f"skipped: {escape(arm['skip_reason'] or '')}", "", "",
                          "", "")
            continue
        m = report["metrics"][name]

        def cell(key: str, m: dict[str, Any] = m) -> str:
            value = m.get(key)
            return f"{value['mean']:.3f} [{value['low']:.2f}, {value['high']:.2f}]" if value else "-"

        cost = report["cost"][name]["per_1000_queries"]
        table.add_row(escape(name), escape(arm["generator"]), cell(metric), cell("abstain_correct"),
                      cell("grounded"), f"{report['latency'][name].get('total', {}).get('p50', 0):.1f}",
                      f"{cost:.4f} {report['prices']['currency']}")
    console.print(table)
    _print_leak(report)
    recommendation = report["recommendation"]
    console.print(f"\n[bold]Recommendation:[/] {escape(recommendation['headline'])}")
    if recommendation.get("metric_note"):
        console.print(f"  [bold yellow]{escape(recommendation['metric_note'])}[/]")
    if recommendation.get("beside"):
        console.print(f"  [dim]Beside it: {escape(recommendation['beside'])}[/]")
    for rule in recommendation["rules"]:
        if rule["fired"]:
            console.print(f"  - {escape(rule['description'])}\n    [dim]{escape(rule['because'])}[/]")


def _print_leak(report: dict[str, Any]) -> None:
    """The leak remedy's before and after: what each adapter's weights hold of facts the caller may not read."""
    leak = report.get("leak") or {}
    weights = leak.get("weights") or {}
    if not weights.get("arms"):
        return
    sets = list(weights["sets"])
    table = Table(title=f"Leak probe as groups {', '.join(leak['caller_groups'])}: restricted answer ranked first "
                        f"among {weights['distractors'] + 1} by the adapter vs its base model; stated by greedy decoding")
    for column in ("arm", "trained on groups", "refused to caller", *(f"{name}: ranked first / stated" for name in sets)):
        table.add_column(column, overflow="fold")
    for arm, probe in weights["arms"].items():
        cells = []
        for name in sets:
            s = probe["sets"][name]
            excess = s["excess"]
            text = (f"{s['gold_first']['mean']:.2f} vs {s['gold_first_base']['mean']:.2f} "
                    f"({excess['mean']:+.2f} [{excess['low']:+.2f}, {excess['high']:+.2f}]) / {s['stated']['mean']:.2f}")
            cells.append(f"[bold red]{text}[/]" if s["carries_restricted_facts"] else text)
        refused = (leak.get("arms", {}).get(arm) or {}).get("refused_by_access_check")
        table.add_row(escape(arm), ", ".join(probe["adapter_groups"]), "-" if refused is None else "yes" if refused else "no",
                      *cells)
    console.print(table)
