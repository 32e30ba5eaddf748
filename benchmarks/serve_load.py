"""Load on `tailor serve`: /v1/ask from concurrent clients while an ingestion job runs alongside.

    python benchmarks/serve_load.py [--requests N] [--duration S] [--concurrency 16] [--threads T]

The server is the real `tailor serve` (a child process on a free loopback port) over the example
handbook (examples/handbook/docs, access groups from its _meta.yaml; ingested once into
.cache/bench-serve, then copied per run), answering with the extractive reader. Each client asks
the handbook's questions in turn (examples/handbook/questions.jsonl) with a key holding the
question's groups, so the first pass over the questions is cold (every question embedded for the
first time) and later passes repeat them. Throughout the measurement an admin key keeps an
ingestion job running: batches of new synthetic documents, each batch uploaded when the previous
job ends. The run stops after N requests or S seconds, whichever comes first.

Target (issue 6): >= 50 requests/s, p95 <= 200 ms, zero errors at 16 concurrent clients. The
machine's load average is recorded: other processes on the same two cores inflate every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from _common import REPO, print_table, write_result

HANDBOOK = REPO / "examples" / "handbook"
CACHE = REPO / ".cache" / "bench-serve"
WORDS = ("loom heddle warp weft shuttle spindle bobbin reed tension yarn cotton linen dye pattern twill satin "
         "frame pedal beam treadle selvedge shed pick batten creel harness jacquard dobby sizing").split()
TARGET = {"throughput_rps": 50.0, "p95_ms": 200.0, "errors": 0}


def base_kb() -> Path:
    """The handbook ingested once (cached); the run works on a copy."""
    from tailor.kb.knowledge_base import KnowledgeBase

    folder = CACHE / "handbook-kb"
    kb = KnowledgeBase.open(folder)
    report = kb.ingest([HANDBOOK / "docs"])
    kb.close()
    print(f"handbook: {report.chunks} chunks embedded now, {report.unchanged} documents unchanged")
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def synthetic_batch(rng: random.Random, batch: int, docs: int) -> dict[str, Any]:
    """`docs` new documents of about 300 words each (new text: every chunk must be embedded)."""
    documents = []
    for i in range(docs):
        sentences = [" ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + "." for _ in range(25)]
        documents.append({"name": f"bench-{batch:03d}-{i:03d}.md", "text": "\n\n".join(sentences)})
    return {"documents": documents, "groups": ["public"]}


class Ingestion:
    """Keeps one ingestion job running until stopped; counts the jobs and chunks it got through."""

    def __init__(self, base: str, key: str, docs_per_job: int, seed: int) -> None:
        self.base, self.key, self.docs = base, key, docs_per_job
        self.rng = random.Random(seed)
        self.jobs: list[dict[str, Any]] = []
        self.stop = asyncio.Event()
        self.active = False  # a job is uploaded and not finished

    async def run(self, client: httpx.AsyncClient) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        batch = 0
        while not self.stop.is_set():
            started = time.perf_counter()
            body = synthetic_batch(self.rng, batch, self.docs)
            self.active = True
            accepted = await client.post(f"{self.base}/v1/documents", json=body, headers=headers, timeout=120)
            accepted.raise_for_status()
            job_id = accepted.json()["job"]["id"]
            while True:
                job = (await client.get(f"{self.base}/v1/jobs/{job_id}", headers=headers)).json()
                if job["status"] not in ("queued", "running"):
                    break
                await asyncio.sleep(0.2)
            self.active = False
            self.jobs.append({"status": job["status"], "chunks": (job["result"] or {}).get("chunks", 0),
                              "seconds": round(time.perf_counter() - started, 2)})
            batch += 1


async def client_loop(
    client: httpx.AsyncClient, base: str, work: list[tuple[str, str]], cursor: list[int], deadline: float,
    results: list[dict[str, Any]], limit: int,
) -> None:
    while time.perf_counter() < deadline:
        index = cursor[0]
        if index >= limit:
            return
        cursor[0] += 1
        question, key = work[index % len(work)]
        started = time.perf_counter()
        try:
            response = await client.post(f"{base}/v1/ask", json={"question": question},
                                         headers={"Authorization": f"Bearer {key}"}, timeout=60)
            status = response.status_code
            stages = response.json().get("timings_ms", {}) if status == 200 else {}
        except httpx.HTTPError as exc:
            status, stages = type(exc).__name__, {}
        results.append({"i": index, "ms": (time.perf_counter() - started) * 1000, "status": status,
                        "stages": stages, "cold": index < len(work)})


async def measure(base: str, keys: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    rows = [json.loads(line) for line in (HANDBOOK / "questions.jsonl").read_text().splitlines() if line.strip()]
    work = [(row["question"], keys[",".join(sorted(row["groups"]))]) for row in rows]
    limits = httpx.Limits(max_connections=args.concurrency + 4, max_keepalive_connections=args.concurrency + 4)
    async with httpx.AsyncClient(limits=limits) as client:
        ingestion = Ingestion(base, keys["admin"], args.docs_per_job, args.seed)
        if args.no_ingest:
            ingestion.stop.set()
        ingest_task = asyncio.create_task(ingestion.run(client))
        await asyncio.sleep(1.0)  # the first job is embedding before the clients begin
        results: list[dict[str, Any]] = []
        cursor = [0]
        started = time.perf_counter()
        deadline = started + args.duration
        await asyncio.gather(*(client_loop(client, base, work, cursor, deadline, results, args.requests)
                               for _ in range(args.concurrency)))
        wall = time.perf_counter() - started
        running_at_end = ingestion.active
        ingestion.stop.set()
        await asyncio.wait_for(ingest_task, timeout=600)
    return {"results": results, "wall_s": wall, "ingest_jobs": ingestion.jobs, "questions": len(work),
            "ingest_running_at_end": running_at_end}


def summarise(results: list[dict[str, Any]], wall_s: float) -> dict[str, Any]:
    ok = [r for r in results if r["status"] == 200]
    errors: dict[str, int] = {}
    for r in results:
        if r["status"] != 200:
            errors[str(r["status"])] = errors.get(str(r["status"]), 0) + 1

    def latency(rows: list[dict[str, Any]]) -> dict[str, float]:
        ms = np.array([r["ms"] for r in rows]) if rows else np.zeros(1)
        return {f"p{q}": round(float(np.percentile(ms, q)), 1) for q in (50, 95, 99)} | {"n": len(rows)}

    stages = {stage: round(float(np.percentile([r["stages"][stage] for r in ok if stage in r["stages"]], 50)), 1)
              for stage in ("retrieve", "generate", "total")} if ok else {}
    return {
        "requests": len(results), "ok": len(ok), "errors": errors, "throughput_rps": round(len(ok) / wall_s, 1),
        "latency_ms": latency(ok), "latency_cold_ms": latency([r for r in ok if r["cold"]]),
        "latency_repeat_ms": latency([r for r in ok if not r["cold"]]), "server_stage_p50_ms": stages,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1500, help="Most /v1/ask requests sent")
    parser.add_argument("--duration", type=float, default=40.0, help="Most seconds of load")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--docs-per-job", type=int, default=40, help="Synthetic documents per ingestion job")
    parser.add_argument("--threads", type=int, default=1,
                        help="Threads per torch/BLAS call in the server (serve.compute_threads)")
    parser.add_argument("--no-ingest", action="store_true", help="Baseline: no ingestion alongside")
    parser.add_argument("--seed", type=int, default=None, help="Seed of the synthetic documents (default: time)")
    args = parser.parse_args()
    args.seed = args.seed if args.seed is not None else int(time.time())
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    run_dir = Path(tempfile.mkdtemp(prefix="tailor-serve-load-"))
    shutil.copytree(base_kb(), run_dir / "kb")
    from tailor.serve.keys import KeyStore

    store = KeyStore(run_dir / "home" / "keys.json")
    keys = {"admin": store.create(("public", "hr", "finance"), admin=True)[1]}
    for groups in ("public", "finance,public", "hr,public", "finance,hr,public"):
        keys[groups] = store.create(tuple(groups.split(",")))[1]
    (run_dir / "tailor.yaml").write_text(f"serve:\n  compute_threads: {args.threads}\n"
                                         "  limits: {rate_per_minute: 1000000, burst: 100000}\n")
    port = free_port()
    env = {**os.environ, "TAILOR_HOME": str(run_dir / "home")}
    server = subprocess.Popen(
        [sys.executable, "-m", "tailor.cli", "serve", "--kb", str(run_dir / "kb"), "--port", str(port),
         "--config", str(run_dir / "tailor.yaml")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None:
                raise RuntimeError(f"server exited: {server.stderr.read()}")
            time.sleep(0.2)
        load_before = os.getloadavg()[0]
        run = asyncio.run(measure(base, keys, args))
        load_after = os.getloadavg()[0]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        shutil.rmtree(run_dir, ignore_errors=True)

    summary = summarise(run["results"], run["wall_s"])
    ingest = {"jobs_finished": len(run["ingest_jobs"]), "chunks": sum(j["chunks"] for j in run["ingest_jobs"]),
              "running_when_the_load_ended": run["ingest_running_at_end"], "jobs": run["ingest_jobs"]}
    met = {"throughput": summary["throughput_rps"] >= TARGET["throughput_rps"],
           "p95": summary["latency_ms"]["p95"] <= TARGET["p95_ms"], "errors": not summary["errors"]}
    rows = [
        ["all", summary["latency_ms"]["n"], *(summary["latency_ms"][q] for q in ("p50", "p95", "p99"))],
        ["first pass (cold)", summary["latency_cold_ms"]["n"],
         *(summary["latency_cold_ms"][q] for q in ("p50", "p95", "p99"))],
        ["repeated questions", summary["latency_repeat_ms"]["n"],
         *(summary["latency_repeat_ms"][q] for q in ("p50", "p95", "p99"))],
    ]
    alongside = "without ingestion" if args.no_ingest else "with ingestion alongside"
    print_table(f"/v1/ask at {args.concurrency} clients {alongside}: "
                f"{summary['throughput_rps']} req/s, errors {summary['errors'] or 0}",
                ["requests", "n", "p50 ms", "p95 ms", "p99 ms"], rows)
    print(f"server stage p50 (ms): {summary['server_stage_p50_ms']}; ingestion: {ingest['jobs_finished']} jobs, "
          f"{ingest['chunks']} chunks during the run; load average {load_before:.2f} before, {load_after:.2f} after")
    print(f"target >= {TARGET['throughput_rps']} req/s, p95 <= {TARGET['p95_ms']} ms, 0 errors: "
          + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in met.items()))
    path = write_result("serve_load_baseline" if args.no_ingest else "serve_load", {
        "concurrency": args.concurrency, "duration_limit_s": args.duration, "request_limit": args.requests,
        "wall_s": round(run["wall_s"], 2), "questions": run["questions"], "server_threads": args.threads,
        "ingestion_alongside": not args.no_ingest,
        "load_average": [load_before, load_after], "summary": summary, "ingestion": ingest, "target": TARGET,
        "target_met": met,
    })
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
