"""`tailor compare` at an organisation's scale: how time, memory and the report grow from 500 to 5,000 questions.

    python benchmarks/compare_scale.py [--sizes 500 1000 2000 5000] [--llm-sample 100] [--kill]

The corpus is generated (scale_corpus.py: 10,000 project records, 5,000 questions with known answers and
groups) and ingested once under .cache/compare-scale/. Each size runs the real CLI in a fresh report folder
on the first N questions: the extractive RAG arm asks all N, the RAG arm with the bundled SmolLM2 asks a
seeded sample (`sample:` in the arm's config), so the model's cost stays fixed while the questions grow.
Per size: the run's wall time, its peak RSS (/usr/bin/time), report.html's size, and compare's own overhead:
the wall time less the interpreter's start with the imports the CLI makes before the run begins (torch,
transformers: timed alone just before, under the same load) and less the time inside the arms' retrieval
and models (loading included) and in opening the KB, as a share of the run; then a least-squares line
through the overheads (seconds per question and fixed seconds). `--kill` then SIGKILLs a 5,000-question run halfway through its answers and
re-runs it: the resumed run must answer only what was not committed (counted in the KB's audit trail;
5,000 questions hold fewer distinct (question, caller) pairs, and an answer is cached per pair).
results/compare_scale.json keeps one row per size.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path

import numpy as np
import yaml
from _common import REPO, print_table, write_result
from scale_corpus import write_corpus

from tailor.audit import AuditLog, default_audit_dir

CACHE = REPO / ".cache" / "compare-scale"
WORK_PHASES = ("kb", "models", "load_models", "retrieve_and_generate")  # everything else is compare's own


def setup(documents: int, questions: int) -> tuple[Path, Path]:
    """The generated corpus and its KB (built once; a different size is a different folder)."""
    root = CACHE / f"{documents}-{questions}"
    kb = root / "kb"
    if not (root / "questions.jsonl").is_file():
        write_corpus(root, documents, questions)
    if not (kb / "kb.sqlite").is_file():
        subprocess.run([*tailor(), "ingest", str(root / "docs"), "--kb", str(kb)], check=True, env=env())
    return root, kb


def tailor() -> list[str]:
    return [sys.executable, "-m", "tailor.cli"]


def env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def compare_config(root: Path, llm_sample: int) -> Path:
    path = root / "compare-scale.yaml"
    arms = [{"name": "rag_extractive", "strategy": "rag", "generator": "extractive"},
            {"name": "rag", "strategy": "rag", "max_new_tokens": 32, "quantize": "bf16", "sample": llm_sample}]
    path.write_text(yaml.safe_dump({"arms": arms, "probes": {"forgetting": False}}))
    return path


def questions_file(root: Path, size: int) -> Path:
    path = root / f"questions-{size}.jsonl"
    lines = (root / "questions.jsonl").read_text().splitlines()[:size]
    path.write_text("\n".join(lines) + "\n")
    return path


def compare_command(kb: Path, questions: Path, config: Path, out: Path) -> list[str]:
    return [*tailor(), "compare", "--kb", str(kb), "--questions", str(questions), "--config", str(config),
            "--out", str(out), "--quiet", "--json"]


def startup_seconds() -> float:
    """The interpreter's start and the imports `tailor compare` makes before its run begins."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import tailor.cli, tailor.evaluate.compare.runner, tailor.evaluate.report"],
                   check=True, env=env())
    return time.perf_counter() - started


def run_size(root: Path, kb: Path, config: Path, size: int) -> dict[str, object]:
    startup = startup_seconds()
    out = root / "runs" / f"q{size}-{time.time_ns()}"
    rss_file = out.with_suffix(".rss")
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss_file),
                    *compare_command(kb, questions_file(root, size), config, out)],
                   check=True, env=env(), stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    report = json.loads((out / "report.json").read_text())
    phases = report["phase_seconds"]
    work = sum(phases.get(p, 0.0) for p in WORK_PHASES)
    overhead = seconds - startup - work
    return {
        "questions": size,
        "documents": report["kb"]["documents"],
        "seconds": round(seconds, 2),
        "peak_rss_bytes": int(rss_file.read_text().split()[-1]) * 1024,
        "report_html_bytes": (out / "report.html").stat().st_size,
        "report_json_bytes": (out / "report.json").stat().st_size,
        "startup_seconds": round(startup, 2),
        "work_seconds": round(work, 2),
        "overhead_seconds": round(overhead, 2),
        "overhead_share": round(overhead / seconds, 4),
        "phase_seconds": phases,
        "answers": {arm: m["accuracy"]["n"] for arm, m in report["metrics"].items()},
        "accuracy": {arm: m["accuracy"]["mean"] for arm, m in report["metrics"].items()},
    }


def committed(out: Path) -> int:
    cache = out / "work" / "answers.sqlite"
    if not cache.is_file():
        return 0
    with sqlite3.connect(cache, timeout=30) as db:
        try:
            return int(db.execute("SELECT COUNT(*) FROM answers WHERE arm = 'rag_extractive'").fetchone()[0])
        except sqlite3.OperationalError:  # the file exists, its table not yet
            return 0


def kill_and_resume(root: Path, kb: Path, config: Path, size: int) -> dict[str, object]:
    """SIGKILL a run once half its extractive answers are committed; the re-run answers only the rest.

    The answers a run makes are counted in the KB's audit trail: a main-phase answer is one asked as its
    question's own groups (the leak probe asks restricted questions as `public`, and is not resumed from)."""
    questions = questions_file(root, size)
    rows = [json.loads(line) for line in questions.read_text().splitlines()]
    asked = {(sha256(q["question"].encode()).hexdigest(), tuple(sorted(q["groups"]))) for q in rows}
    # The leak probe asks the restricted questions as `public`; where the main set asks the same as `public`
    # too, its answers (a cache key of its own) count here as well.
    probed = {(sha256(q["question"].encode()).hexdigest(), ("public",)) for q in rows
              if q["answerable"] and "public" not in q["groups"]}
    out = root / "runs" / f"kill-q{size}-{time.time_ns()}"
    command = compare_command(kb, questions, config, out)
    child = subprocess.Popen(command, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while committed(out) < len(asked) // 2 and child.poll() is None:
        time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait()
    kept = committed(out)
    resumed_at = datetime.now(UTC)
    subprocess.run(command, check=True, env=env(), stdout=subprocess.DEVNULL)
    audit = AuditLog.open(default_audit_dir(kb))
    anew = [e for e in audit.query(since=resumed_at, limit=10 * size)
            if e.caller == "compare" and e.generator == "extractive"
            and (e.question_sha256, tuple(sorted(e.groups))) in asked]
    audit.close()
    report = json.loads((out / "report.json").read_text())
    return {"questions": size, "distinct_answers": len(asked), "committed_at_kill": kept,
            "answered_after_resume": len(anew), "not_committed_at_kill": len(asked) - kept,
            "of_those_the_leak_probes": len(asked & probed),
            "answered_in_report": sum("rag_extractive" in row["answers"] for row in report["per_question"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000, 5000])
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--questions", type=int, default=5_000, help="questions generated; --sizes take the first N")
    parser.add_argument("--llm-sample", type=int, default=100)
    parser.add_argument("--kill", action="store_true", help="also kill a run halfway and resume it")
    args = parser.parse_args()
    root, kb = setup(args.documents, args.questions)
    config = compare_config(root, args.llm_sample)
    rows = []
    for size in args.sizes:
        rows.append(run_size(root, kb, config, size))
        print(f"{size} questions: {rows[-1]['seconds']} s", flush=True)
    print_table("tailor compare at scale (extractive arm on all, SmolLM2 RAG arm on a seeded sample)",
                ["questions", "documents", "seconds", "startup s", "peak RSS MiB", "report.html KiB", "overhead s",
                 "overhead share"],
                [[r["questions"], r["documents"], r["seconds"], r["startup_seconds"], round(r["peak_rss_bytes"] / 2**20),
                  round(r["report_html_bytes"] / 1024), r["overhead_seconds"], r["overhead_share"]] for r in rows])
    slope, fixed = np.polyfit([r["questions"] for r in rows], [r["overhead_seconds"] for r in rows], 1)
    print(f"overhead ~ {slope * 1000:.2f} ms a question + {fixed:.1f} s")
    payload: dict[str, object] = {"overhead_fit": {"ms_per_question": round(slope * 1000, 3), "fixed_seconds": round(fixed, 2)},
                                  "args": vars(args), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                                  "load_average": os.getloadavg(), "rows": rows}
    if args.kill:
        payload["kill"] = kill_and_resume(root, kb, config, max(args.sizes))
        print(json.dumps(payload["kill"]))
    print(f"wrote {write_result('compare_scale', payload)}")


if __name__ == "__main__":
    main()
