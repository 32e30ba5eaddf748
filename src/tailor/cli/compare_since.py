"""`tailor compare`'s CI side: the gate from its flags, its exit code, and the printed "since the baseline"
and history tables. The compare package is imported inside the functions: it loads torch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from tailor.cli._common import EXIT_PARTIAL, console, err_console, print_json

if TYPE_CHECKING:
    from tailor.evaluate.compare.gate import Gate


def build_gate(fail_on: list[str], minimum: list[str], maximum: list[str], baseline: Path | None,
               arms: list[str]) -> Gate:
    """The gate of the flags; ValueError for a condition that cannot be checked (before anything runs)."""
    from tailor.evaluate.compare.gate import FAIL_ON, Bound, Gate

    unknown = sorted(set(fail_on) - set(FAIL_ON))
    if unknown:
        raise ValueError(f"--fail-on {', '.join(unknown)}: expected one of {', '.join(FAIL_ON)}")
    if fail_on and baseline is None:
        raise ValueError(f"--fail-on {', '.join(fail_on)} compares with a baseline: give --baseline OUT")
    bounds = tuple([Bound.parse(text, "min") for text in minimum] + [Bound.parse(text, "max") for text in maximum])
    for bound in bounds:
        if bound.arm not in arms:
            raise ValueError(f"{bound}: no arm {bound.arm!r} in this run; arms: {', '.join(arms)}")
    return Gate(frozenset(fail_on), bounds)


def exit_code(gate: Gate, failures: list[str], report: dict[str, Any], as_json: bool) -> int:
    """4 when a condition failed, one line each on stdout (in the JSON with --json); 3 when a gated run was
    partial; else 0."""
    from tailor.evaluate.compare.gate import EXIT_GATE

    say = (lambda line: None) if as_json else typer.echo
    for line in failures:
        say(f"gate failed: {line}")
    if failures:
        return EXIT_GATE
    if not gate.active:
        return 0
    skipped = len((report.get("questions") or {}).get("errors") or []) + len(
        (report.get("kb") or {}).get("ingest_errors") or [])
    if skipped:
        say(f"gate passed on a partial run: {skipped} question line(s) or document(s) were skipped")
        return EXIT_PARTIAL
    say(f"gate passed: {len(gate.fail_on) + len(gate.bounds)} condition(s)")
    return 0


def print_since(baseline: dict[str, Any] | None) -> None:
    """The primary metric's differences since the baseline, the verdict and the fingerprints that differ."""
    if not baseline:
        return
    metric = baseline["primary_metric"]
    asked = baseline["questions"]
    table = Table(title=f"Since the baseline {escape(baseline['source'])}: {asked['matched']} questions in both "
                        f"runs, {len(asked['added'])} added, {len(asked['dropped'])} dropped, "
                        f"{len(asked['reworded'])} reworded; {metric}, this run minus the baseline (95% CI)")
    for column in ("arm", "before", "after", "difference", "change"):
        table.add_column(column)
    for d in baseline["differences"]:
        if d["metric"] == metric:
            table.add_row(escape(d["arm"]), f"{d['before']:.3f}", f"{d['after']:.3f}",
                          f"{d['diff']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]", d["change"])
    console.print(table)
    verdict = baseline["verdict"]
    state = f"changed: {verdict['before']} -> {verdict['after']}" if verdict["changed"] else \
        f"unchanged: {verdict['after']}"
    console.print(f"Verdict {escape(state)}" + (f" (decided by {escape(verdict['decided_by'])})"
                                                if verdict["decided_by"] else ""))
    for change in baseline["fingerprints"]:
        console.print(f"  {escape(change['name'])}: {escape(str(change['before']))} -> {escape(str(change['after']))}")


def print_history(out: Path, as_json: bool) -> None:
    """`tailor compare --history OUT`: one row per recorded run."""
    from tailor.evaluate.compare.history import HISTORY_FILE, read_history

    runs, problems = read_history(out)
    for problem in problems:
        err_console.print(f"[yellow]skipped[/] {escape(problem)}")
    if not runs and not (out / HISTORY_FILE).is_file():
        err_console.print(f"[red]error[/] {escape(str(out / HISTORY_FILE))}: no history (run tailor compare --out "
                          f"{escape(str(out))} first)")
        raise typer.Exit(2)
    if as_json:
        print_json(runs)
        return
    arms = list(dict.fromkeys(arm for run in runs for arm in run["arms"]))
    metric = runs[-1].get("primary_metric", "accuracy") if runs else "accuracy"
    table = Table(title=f"{len(runs)} runs in {escape(str(out / HISTORY_FILE))}; per arm: {metric} [95% CI], "
                        "p50 ms, cost per 1,000 queries")
    for column in ("time", "revision", "questions", "verdict", *arms):
        table.add_column(escape(column))
    for run in runs:
        table.add_row(escape(str(run.get("time") or "")), escape(str(run.get("revision") or "-")),
                      str(run.get("questions") or "-"), escape(str(run.get("verdict") or "-")),
                      *(_arm_cell(run["arms"].get(arm), run.get("currency") or "") for arm in arms))
    console.print(table)


def _arm_cell(entry: dict[str, Any] | None, currency: str) -> str:
    if not entry or entry.get("mean") is None:
        return "-"
    cell = f"{entry['mean']:.3f}"
    if entry.get("low") is not None and entry.get("high") is not None:
        cell += f" [{entry['low']:.3f}, {entry['high']:.3f}]"
    if entry.get("p50_ms") is not None:
        cell += f"\n{entry['p50_ms']:.1f} ms"
    if entry.get("per_1000_queries") is not None:
        cell += f", {entry['per_1000_queries']:.4f} {escape(currency)}"
    return cell
