"""How long a second writer waits while a large write commits to a local knowledge base.

    python benchmarks/second_writer.py [--chunks 100000] [--large 20000]

A synthetic KB of `--chunks` chunks (retrieval_latency.py's corpus, cached under .cache/) is copied; one
process commits `--large` new chunks to it (the first writer), and one second later another process commits a
single small document (the second writer, as a small ingest during a large one would). Both go through
`LocalStore.commit` with precomputed vectors, so the figures are the store's own: the time each took to
commit, and the second writer's wait (its start to its commit) or its error. Issue 19 asks for this figure
before and after an incremental lexical index; results/second_writer.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import REPO, print_table, write_result
from retrieval_latency import CHUNKS_PER_DOC, DIM, build

from tailor.kb.local_store import LocalStore
from tailor.kb.store import DocumentWrite, StoredDocument
from tailor.records import Chunk


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
    """One commit in this process; prints its start, end and outcome as JSON."""
    batch = writes(prefix, n_chunks, seed=len(prefix))
    store = LocalStore(folder)
    started = time.time()
    try:
        version = store.commit(batch, [], note=prefix)
        outcome = f"committed version {version}"
    except Exception as exc:  # the figure is whatever happened to the writer, error included
        outcome = f"{type(exc).__name__}: {exc}"
    print(json.dumps({"started": started, "ended": time.time(), "outcome": outcome}))
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=20_000)
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        writer(args.folder, args.role, args.large if args.role == "large" else CHUNKS_PER_DOC)
        return
    source = REPO / ".cache" / f"bench-latency-{args.chunks}"
    if not (source / "kb.sqlite").is_file():
        build(source, args.chunks)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "kb"
        shutil.copytree(source, folder)
        command = [sys.executable, __file__, "--folder", str(folder), "--large", str(args.large), "--role"]
        first = subprocess.Popen([*command, "large"], stdout=subprocess.PIPE, text=True)
        time.sleep(1.0)
        second = subprocess.Popen([*command, "small"], stdout=subprocess.PIPE, text=True)
        runs = {role: json.loads(process.communicate()[0].strip().splitlines()[-1])
                for role, process in (("large", first), ("small", second))}
    rows = [[role, f"{run['ended'] - run['started']:.2f}", run["outcome"]] for role, run in runs.items()]
    print_table(f"Two writers on a {args.chunks:,}-chunk local KB: {args.large:,} chunks, then 1 document a second later",
                ["writer", "start to commit (s)", "outcome"], rows)
    path = write_result("second_writer", {"args": {"chunks": args.chunks, "large": args.large}, "runs": runs,
                                          "second_writer_wait_s": runs["small"]["ended"] - runs["small"]["started"]})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
