"""Embedding on several devices: two CPU workers give the single-process vectors, in document order;
an ingest with them is resumable and searches exactly like one embedded in a single process."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from typer.testing import CliRunner

from tailor.cli import app
from tailor.kb.config import IndexConfig, IngestConfig, KBConfig
from tailor.kb.embedding import SentenceTransformerEmbedder
from tailor.kb.embedding_pool import cpu_threads_per_worker, parse_devices
from tailor.kb.knowledge_base import KnowledgeBase
from tailor.records import Document

INDEX = IndexConfig(chunk_tokens=48, overlap_tokens=8)  # small chunks: several per document, several batches
TOPICS = {
    "travel": ("Business Travel", "Trips are booked at least 14 days ahead. The nightly hotel cap is EUR 180, and EUR 240 "
               "in London. Rail is preferred for journeys under four hours; flights need the approval of a line "
               "manager. Taxis need a receipt above EUR 30. Mileage for a private car is paid at EUR 0.25 per km."),
    "laptops": ("Laptop Policy", "Every employee receives a laptop on the first day. Laptops are replaced every three "
                "years. A lost laptop is reported within two hours to the Service Desk, which locks it remotely. "
                "Personal software needs a ticket; the Service Desk answers tickets within one working day."),
    "printing": ("Printing", "The office has six printers on three floors. Toner is ordered by the Facilities Team "
                 "when a printer reports ten percent left. Colour printing costs EUR 0.15 per page and is billed to "
                 "the team. Confidential documents are printed with a badge release."),
    "leave": ("Annual Leave", "Full-time staff have 28 days of annual leave. Up to five unused days move to the next "
              "year and expire on 31 March. Leave is requested in the HR portal two weeks ahead; the line manager "
              "approves it. Parental leave follows the statutory scheme plus four paid weeks."),
    "security": ("Security", "Badges are worn visibly at all times. Visitors sign in at reception and are escorted. "
                 "Passwords have at least 14 characters and are never reused. Phishing is reported with the report "
                 "button; the security team answers within the hour."),
    "salary": ("Salary Bands", "Band E4 pays between EUR 88,000 and EUR 104,000 per year. Band E5 starts at EUR "
               "105,000. Reviews happen every April; a promotion moves the salary to at least the new band's floor."),
}
DOCUMENTS = [
    Document(key, text, title, f"{key}.md", groups=("hr",) if key == "salary" else ("public",))
    for key, (title, text) in TOPICS.items()
]
QUERIES = ["hotel cap in London", "lost laptop", "colour printing cost", "unused leave days", "E4 salary band",
           "password length", "who approves flights"]


@pytest.fixture(scope="module")
def pooled_kb(tmp_path_factory: pytest.TempPathFactory):
    """A knowledge base whose config asks for two CPU embedding workers (one pool for the module)."""
    config = KBConfig(index=INDEX, ingest=IngestConfig(embed_devices=["cpu", "cpu"], embed_batch=4))
    kb = KnowledgeBase.open(tmp_path_factory.mktemp("pooled") / "kb", config)
    yield kb
    kb.close()
    kb.embedder.close()


def test_devices_are_checked_and_cpu_workers_split_the_cores(monkeypatch):
    assert parse_devices([" cuda:1", "cpu"]) == ["cuda:1", "cpu"]
    with pytest.raises(ValueError, match="'gpu0' is not a torch device"):
        parse_devices(["gpu0"])
    with pytest.raises(ValueError, match="ingest.embed_devices"):
        KBConfig.model_validate({"ingest": {"embed_devices": ["cpu", "tpu-7"]}})
    monkeypatch.setenv("COLUMNS", "240")  # the error panel keeps the message on one line
    refused = CliRunner().invoke(app, ["ingest", ".", "--kb", "unused", "--embed-devices", "cpu,gpu0"])
    assert refused.exit_code == 2 and "'gpu0' is not a torch device" in refused.output
    cores = len(os.sched_getaffinity(0))
    assert cpu_threads_per_worker(["cpu"] * cores) == 1
    assert cpu_threads_per_worker(["cuda:0", "cpu"]) == cores  # GPU workers take no share of the cores
    assert cpu_threads_per_worker(["cpu"] * (cores + 3)) == 1


def test_two_cpu_workers_embed_like_one_process_in_document_order(pooled_kb, embedder):
    assert isinstance(pooled_kb.embedder, SentenceTransformerEmbedder) and pooled_kb.embedder.devices == ["cpu", "cpu"]
    # Lengths vary so that each worker's length-sorted batches differ from the input order.
    texts = [f"{title}: " + " ".join(text.split()[: 5 + 7 * (i % 6)]) for i, (title, text) in enumerate(TOPICS.values())]
    texts = texts * 4 + [f"item {i}" for i in range(9)]
    pooled = pooled_kb.embedder.embed_documents(texts)
    single = embedder.embed_documents(texts)
    assert pooled.dtype == np.float32 and pooled.shape == single.shape
    np.testing.assert_allclose(pooled, single, atol=2e-5)
    assert pooled_kb.embedder._pool.workers == 2
    assert all(p.is_alive() for p in pooled_kb.embedder._pool._pool["processes"])
    # Queries stay in this process: no round trip through the workers.
    np.testing.assert_allclose(pooled_kb.embedder.embed_query("hotel cap"), embedder.embed_query("hotel cap"), atol=2e-5)


class Interrupt(Exception):
    pass


def test_a_pooled_ingest_resumes_after_an_interruption_and_searches_like_one_process(pooled_kb, make_kb):
    def stop_after_first_batch(phase: str, done: int, total: int) -> None:
        if phase == "embed" and done:
            raise Interrupt

    with pytest.raises(Interrupt):
        pooled_kb.ingest_documents(DOCUMENTS, on_progress=stop_after_first_batch)
    assert pooled_kb.version == 0  # nothing committed

    progress: list[tuple[int, int]] = []
    report = pooled_kb.ingest_documents(DOCUMENTS, on_progress=lambda phase, done, total: progress.append((done, total)))
    total = report.chunks
    assert report.version == 1 and total > 2 * 4  # several commits of the embedding cache
    assert progress[0] == (4, total)  # the first batch came from the cache: not embedded again

    single = make_kb("single", KBConfig(index=INDEX))
    assert single.ingest_documents(DOCUMENTS).chunks == total
    for query in QUERIES:
        for mode in ("dense", "hybrid"):
            for groups in (["public"], ["hr", "public"]):
                ours = pooled_kb.search(query, k=5, mode=mode, groups=groups).hits
                theirs = single.search(query, k=5, mode=mode, groups=groups).hits
                assert [h.chunk.id for h in ours] == [h.chunk.id for h in theirs], (query, mode, groups)
                np.testing.assert_allclose([h.score for h in ours], [h.score for h in theirs], atol=1e-4)


@pytest.mark.slow
def test_sigkilled_pooled_ingest_takes_its_workers_down_and_resumes(tmp_path: Path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for key, (title, text) in TOPICS.items():
        if key != "salary":
            (docs / f"{key}.md").write_text(f"# {title}\n\n" + "\n\n".join([text] * 30))
    config = tmp_path / "kb.yaml"
    config.write_text("kb:\n  index:\n    chunk_tokens: 48\n    overlap_tokens: 8\n  ingest:\n    embed_batch: 8\n")
    command = [sys.executable, "-m", "tailor.cli", "ingest", str(docs), "--kb", str(tmp_path / "kb"), "--config",
               str(config), "--embed-devices", "cpu,cpu", "--json"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cache = tmp_path / "kb" / "embedding-cache.sqlite"
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    workers: list[psutil.Process] = []
    while len(workers) < 2 or _cached(cache) < 8:  # killed mid-embedding, after a committed batch
        assert child.poll() is None and time.time() < deadline, child.stderr.read().decode()[-2000:]
        workers = [p for p in psutil.Process(child.pid).children() if "spawn_main" in " ".join(p.cmdline())]
        time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    _, alive = psutil.wait_procs(workers, timeout=15)
    for survivor in alive:
        survivor.kill()  # not left behind when the check fails
    assert not alive, "embedding workers outlived their SIGKILLed parent"

    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    kb = KnowledgeBase.open(tmp_path / "kb")
    assert kb.version == 1 and kb.stats()["documents"] == len(TOPICS) - 1
    kb.close()


def _cached(database: Path) -> int:
    if not database.is_file():
        return 0
    with sqlite3.connect(database) as connection:
        try:
            return connection.execute("SELECT count(*) FROM vectors").fetchone()[0]
        except sqlite3.OperationalError:  # created, table not yet
            return 0
