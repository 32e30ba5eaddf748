"""SIGKILL a real `tailor ingest` at many moments; the last committed version must survive intact."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tailor.kb.knowledge_base import KnowledgeBase

TOPICS = ["looms", "refunds", "travel", "security", "pricing", "shipping", "warranty", "training"]


def write_docs(folder: Path, edition: str, n: int = 16) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        body = " ".join(f"Edition {edition} note {j} about {topic} number {i}." for j in range(60))
        (folder / f"doc{i:02d}.md").write_text(f"# {topic.title()} {i}\n\n{body}\n")


def ingest_process(docs: Path, kb: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "tailor.cli", "ingest", str(docs), "--kb", str(kb), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
    )


def snapshot(kb_dir: Path, embedder) -> tuple[int, dict[str, str], int, list[str]]:
    kb = KnowledgeBase.open(kb_dir, embedder=embedder)
    try:
        stats = kb.stats()
        hashes = kb.store.document_hashes()
        hits = kb.search("refunds number", k=3, groups=None).hits
        return stats["version"], hashes, stats["chunks"], [h.chunk.id for h in hits]
    finally:
        kb.close()


KILL_POINTS = (0.1, 0.3, 0.5, 0.7, 0.85, 0.95)  # fractions of an uninterrupted run


def run_to_completion(docs: Path, kb_dir: Path) -> float:
    started = time.perf_counter()
    proc = ingest_process(docs, kb_dir)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    return time.perf_counter() - started


def kill_after(docs: Path, kb_dir: Path, delay: float) -> bool:
    """Start an ingest, SIGKILL it after `delay` seconds; True when it had already finished."""
    proc = ingest_process(docs, kb_dir)
    time.sleep(delay)
    finished = proc.poll() is not None
    if not finished:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    return finished


def test_sigkill_at_any_moment_keeps_the_last_version_and_a_rerun_completes(tmp_path, embedder):
    docs, kb_dir = tmp_path / "docs", tmp_path / "kb"
    write_docs(docs, "one")
    # The reference: the same corpus ingested without interruption; its duration sets the kill points,
    # so they spread over start-up, loading, embedding, commit and index build on any machine.
    duration = run_to_completion(docs, tmp_path / "reference")
    _, ref_hashes, ref_chunks, ref_hits = snapshot(tmp_path / "reference", embedder)

    interrupted = 0
    for point in KILL_POINTS:
        interrupted += not kill_after(docs, kb_dir, point * duration)
        if not (kb_dir / "kb.sqlite").exists():
            continue
        version, hashes, chunks, hits = snapshot(kb_dir, embedder)
        assert version in (0, 1)
        if version == 1:  # all or nothing: a committed version holds every document and chunk
            assert (hashes, chunks, hits) == (ref_hashes, ref_chunks, ref_hits)
        else:
            assert hashes == {} and chunks == 0
    assert interrupted >= len(KILL_POINTS) // 2, "too few runs were interrupted to test anything"
    run_to_completion(docs, kb_dir)
    assert snapshot(kb_dir, embedder)[1:] == (ref_hashes, ref_chunks, ref_hits)

    # A second edition changes every document: a kill leaves version 1 whole or version 2 whole.
    write_docs(docs, "two")
    fresh = tmp_path / "fresh"
    duration = run_to_completion(docs, fresh)
    _, new_hashes, new_chunks, _ = snapshot(fresh, embedder)
    for point in KILL_POINTS[1::2]:
        kill_after(docs, kb_dir, point * duration)
        version, hashes, chunks, _ = snapshot(kb_dir, embedder)
        assert (hashes, chunks) in ((ref_hashes, ref_chunks), (new_hashes, new_chunks))
        assert (version == 1) == (hashes == ref_hashes)

    # The re-run finishes the job: no duplicate and no missing chunk.
    run_to_completion(docs, kb_dir)
    version, hashes, chunks, _ = snapshot(kb_dir, embedder)
    assert version == 2 and hashes == new_hashes and chunks == new_chunks
