"""OUT/history.jsonl: one line per compare run into OUT (time, git revision, fingerprints, verdict, and per
arm the primary metric with its CI, the p50 latency and the cost per 1,000 queries), for the report's trend
and `tailor compare --history OUT`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tailor.evaluate.compare.baseline import fingerprints, ran_arms

HISTORY_FILE = "history.jsonl"
IN_REPORT = 50  # the last runs carried into report.json for the trend


def git_revision(folder: Path) -> str | None:
    """The commit checked out where `folder` is (with '+dirty' when it has uncommitted changes), or None."""
    folder = Path(folder)
    folder = folder if folder.is_dir() else folder.parent
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no", "--", "."],
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def history_entry(report: dict[str, Any]) -> dict[str, Any]:
    """This run's line."""
    metric = report.get("primary_metric", "accuracy")
    arms = {}
    for arm in ran_arms(report):
        estimate = (report.get("metrics") or {}).get(arm, {}).get(metric) or {}
        arms[arm] = {
            **{k: estimate[k] for k in ("mean", "low", "high", "n") if k in estimate},
            "p50_ms": ((report.get("latency") or {}).get(arm) or {}).get("total", {}).get("p50"),
            "per_1000_queries": ((report.get("cost") or {}).get(arm) or {}).get("per_1000_queries"),
        }
    return {
        "time": report.get("created_at"),
        "revision": report.get("revision"),
        "fingerprints": fingerprints(report),
        "verdict": (report.get("recommendation") or {}).get("verdict"),
        "primary_metric": metric,
        "questions": (report.get("questions") or {}).get("count"),
        "currency": (report.get("prices") or {}).get("currency"),
        "arms": arms,
    }


def read_history(out: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The runs recorded in OUT/history.jsonl, oldest first, and the problems of lines it skipped."""
    path = Path(out) / HISTORY_FILE
    if not path.is_file():
        return [], []
    runs, problems = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{path}:{number}: not JSON ({exc.msg})")
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("arms"), dict):
            problems.append(f"{path}:{number}: not a history line (no 'arms' object)")
            continue
        runs.append(entry)
    return runs, problems


def with_history(out: Path, report: dict[str, Any]) -> list[dict[str, Any]]:
    """The recent runs in OUT and this one (last), as report.json carries them."""
    runs, _ = read_history(out)
    return [*runs, history_entry(report)][-IN_REPORT:]


def append_history(out: Path, entry: dict[str, Any]) -> None:
    """This run's line, appended after its report is written."""
    path = Path(out) / HISTORY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
