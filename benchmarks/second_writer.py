"""How long a second writer waits while a large write commits to a local knowledge base.

    python benchmarks/second_writer.py [--chunks 100000] [--large 20000] [--repeats 3]

A synthetic KB of `--chunks` chunks (retrieval_latency.py's corpus, cached under .cache/, its index cache
brought up to date first) is copied; one process commits `--large` new chunks to it (the first writer), one
second later another process commits a single small document (the second writer, as a small ingest during a
large one would), then a third commits one document alone. All go through `LocalStore.commit` with
precomputed vectors, so the figures are the store's own: for each writer, from its start to the moment its
version became visible (the end of its `publish` guard) and to the return of `commit` (which may compact the
index after that, outside the write lock), or its error. Issue 19 asks for the second writer's wait before and
after an incremental index; the before figures (every commit rebuilt the whole index inside its transaction)
are kept in BEFORE. results/second_writer.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from _common import REPO, print_table, write_result
from retrieval_latency import CHUNKS_PER_DOC, DIM, build

from tailor.kb.local_store import LocalStore
from tailor.kb.store import DocumentWrite, StoredDocument
from tailor.records import Chunk

# The store as of bfc6e58 (unchanged since 1177722). "recorded": bd35adc's results file. "reruns": this script run
# with --repeats 1 against a worktree of bfc6e58 (PYTHONPATH=<worktree>/src) on 2026-12-06, next to the "after"
# runs, under other load (load average ~8.6, then ~4); the first run's second writer gave up at SQLite's 30 s busy
# timeout.
BEFORE = {
    "commit": "bfc6e58",
    "recorded": {
        "when": "2026-12-04T20:03:36",
        "start_to_return_s": {"large": 12.28, "small": 21.40},
        "outcome": {"large": "committed version 2", "small": "committed version 3"},
    },
    "reruns": [
        {"when": "2026-12-06T13:36:06", "start_to_return_s": {"large": 34.73, "small": 31.15, "alone": 35.76},
         "outcome": {"large": "committed version 2", "small": "OperationalError: database is locked",
                     "alone": "committed version 3"}},
        {"when": "2026-12-06T14:31:35", "start_to_return_s": {"large": 24.00, "small": 44.97, "alone": 23.14},
         "outcome": {"large": "committed version 2", "small": "committed version 3", "alone": "committed version 4"}},
    ],
    "second_writer_wait_s": 21.397266149520874,
}


def writes(prefix: str, n_chunks: int, seed: int) -> list[DocumentWrite]:
    rng = np.random.default_rng(seed)
    found = []
    for d in range(max(1, n_chunks // CHUNKS_PER_DOC)):
        doc_id = f"{prefix}{d:07d}"
        vectors = rng.normal(size=(CHUNKS_PER_DOC, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        texts = [f"{prefix} note {d} part {i} about looms and warp tension" for i in range(CHUNKS_PER_DOC)]
        chunks = [Chunk(f"{doc_id}#{i}", doc_id, t, 0, len(t)) for i, t in enumerate(texts)]
        found.append(DocumentWrite(StoredDocument(doc_id, doc_id, doc_id, doc_id, ("public",), {}, ""), chunks,
                                   texts, vectors))
    return found


def writer(folder: Path, prefix: str, n_chunks: int) -> None:
    """One commit in this process; prints its start, the moment its version became visible, its end and
    outcome as JSON."""
    batch = writes(prefix, n_chunks, seed=len(prefix))
    store = LocalStore(folder)
    times: dict[str, float] = {}

    @contextmanager
    def publish() -> Iterator[None]:
        yield
        times["visible"] = time.time()

    started = time.time()
    try:
        version = store.commit(batch, [], note=prefix, publish=publish)
        outcome = f"committed version {version}"
    except Exception as exc:  # the figure is whatever happened to the writer, error included
        outcome = f"{type(exc).__name__}: {exc}"
    print(json.dumps({"started": started, **times, "ended": time.time(), "outcome": outcome}))
    store.close()


def prepare(source: Path, n_chunks: int) -> None:
    """The synthetic KB with its index cache current, as a KB in use has it."""
    if not (source / "kb.sqlite").is_file():
        build(source, n_chunks)
    store = LocalStore(source)
    store.refresh()
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3, help="scenarios on fresh copies (the machine is noisy)")
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        writer(args.folder, args.role, args.large if args.role == "large" else CHUNKS_PER_DOC)
        return
    source = REPO / ".cache" / f"bench-latency-{args.chunks}"
    prepare(source, args.chunks)
    repeats = [scenario(source, args.large) for _ in range(args.repeats)]
    rows = [[i, role, f"{run['visible'] - run['started']:.2f}" if "visible" in run else "-",
             f"{run['ended'] - run['started']:.2f}", run["outcome"]]
            for i, runs in enumerate(repeats, start=1) for role, run in runs.items()]
    print_table(f"Writers on a {args.chunks:,}-chunk local KB: {args.large:,} chunks, 1 document a second later, "
                "then 1 document alone",
                ["run", "writer", "start to visible (s)", "start to return (s)", "outcome"], rows)
    waits = [runs["small"].get("visible", runs["small"]["ended"]) - runs["small"]["started"] for runs in repeats]
    after = {"commit": _head(), "args": {"chunks": args.chunks, "large": args.large}, "repeats": repeats,
             "second_writer_waits_s": waits, "second_writer_wait_s": float(np.median(waits))}
    print(f"second writer's wait: {BEFORE['second_writer_wait_s']:.1f} s before, "
          f"{after['second_writer_wait_s']:.1f} s now (median of {len(waits)})")
    print(f"wrote {write_result('second_writer', {'before': BEFORE, 'after': after})}")


def scenario(source: Path, large: int) -> dict[str, dict]:
    """The three writers on a fresh copy of `source`: what each printed."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "kb"
        shutil.copytree(source, folder)
        command = [sys.executable, __file__, "--folder", str(folder), "--large", str(large), "--role"]
        first = subprocess.Popen([*command, "large"], stdout=subprocess.PIPE, text=True)
        time.sleep(1.0)
        second = subprocess.Popen([*command, "small"], stdout=subprocess.PIPE, text=True)
        runs = {role: json.loads(process.communicate()[0].strip().splitlines()[-1])
                for role, process in (("large", first), ("small", second))}
        alone = subprocess.run([*command, "alone"], stdout=subprocess.PIPE, text=True, check=True)
        runs["alone"] = json.loads(alone.stdout.strip().splitlines()[-1])
    return runs


def _head() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    main()
