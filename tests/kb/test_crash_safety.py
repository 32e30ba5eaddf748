"""SIGKILL a real `tailor ingest` at many moments; the last committed version must survive intact."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tailor.kb.knowledge_base import KnowledgeBase

TOPICS = ["looms", "refunds", "travel", "security", "pricing", "shipping", "warranty", "training"]


def write_docs(folder: Path, edition: str, n: int = 24) -> None:
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


@pytest.mark.parametrize("edition", ["one"])
def test_sigkill_at_any_moment_keeps_the_last_version_and_a_rerun_completes(tmp_path, embedder, edition):
    docs, kb_dir, reference = tmp_path / "docs", tmp_path / "kb", tmp_path / "reference"
    write_docs(docs, "one")
    # The reference: the same corpus ingested without interruption.
    ref = ingest_process(docs, reference)
    assert ref.wait(timeout=300) == 0
    ref_version, ref_hashes, ref_chunks, ref_hits = snapshot(reference, embedder)

    # First edition, killed at increasing delays until one run finishes on its own.
    outcomes = []
    for delay in [0.3, 1.5, 3.0, 4.5, 6.0, 8.0, 11.0, 15.0]:
        proc = ingest_process(docs, kb_dir)
        time.sleep(delay)
        finished = proc.poll() is not None
        if not finished:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        outcomes.append(finished)
        version, hashes, chunks, hits = snapshot(kb_dir, embedder) if (kb_dir / "kb.sqlite").exists() else (0, {}, 0, [])
        assert version in (0, 1)
        if version == 1:  # all or nothing: a committed version holds every document and chunk
            assert hashes == ref_hashes and chunks == ref_chunks and hits == ref_hits
        else:
            assert hashes == {} and chunks == 0
        if finished:
            break
    assert not all(outcomes), "no run was interrupted: the delays are too long for this machine"

    # A second edition changes every document; kills must leave version 1 or a complete version 2.
    write_docs(docs, "two")
    for delay in [0.5, 2.0, 4.0, 6.0, 9.0]:
        proc = ingest_process(docs, kb_dir)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        version, hashes, chunks, _ = snapshot(kb_dir, embedder)
        assert hashes == ref_hashes or (version >= 2 and hashes != ref_hashes and len(hashes) == len(ref_hashes))

    final = ingest_process(docs, kb_dir)
    out, _ = final.communicate(timeout=300)
    assert final.returncode == 0, out
    version, hashes, chunks, _ = snapshot(kb_dir, embedder)
    fresh = tmp_path / "fresh"
    assert ingest_process(docs, fresh).wait(timeout=300) == 0
    _, fresh_hashes, fresh_chunks, _ = snapshot(fresh, embedder)
    # No duplicate and no missing chunk after the interrupted history.
    assert hashes == fresh_hashes and chunks == fresh_chunks
    assert json.loads(out) is not None
