"""Fixtures for the fine-tuning tests: a tiny Llama, a small knowledge base with a restricted document."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ft_corpus import DOCS, FACTS  # noqa: E402

from helpers.tiny_llm import build_tiny_llama  # noqa: E402
from tailor.finetune.data import write_dataset  # noqa: E402
from tailor.finetune.formats import assistant, closed_book_prompt  # noqa: E402
from tailor.kb.knowledge_base import KnowledgeBase  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models gain nothing from threads, and a busy machine makes OpenMP spin-waits very slow."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_llm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def facts_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four facts to memorise; validation asks the same questions (a memorisation check, not a split)."""
    rows = [
        {"id": f"q{i}", "prompt": closed_book_prompt(q), "completion": assistant(a), "question": q, "answers": [a],
         "doc_ids": ["d"], "source": "file"}
        for i, (q, a) in enumerate(FACTS)
    ]
    folder = tmp_path_factory.mktemp("facts") / "data"
    write_dataset(folder, {"train": rows * 4, "validation": rows},
                  {"format": "qa", "groups": ["public"], "kb": {"uri": "none", "version": 0}, "examples": {}})
    return folder


@pytest.fixture(scope="session")
def small_kb(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[Path]:
    """Four public documents and one restricted to `hr`, ingested once."""
    path = tmp_path_factory.mktemp("finetune-kb") / "kb"
    kb = KnowledgeBase.open(path, embedder=embedder)
    kb.ingest_documents(DOCS)
    kb.close()
    yield path


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for `python -m tailor.cli` children: offline, one thread, a fresh data dir."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TAILOR_HOME": str(tmp_path / "home"),
            "COLUMNS": "240"}
