"""Fixtures of the server tests (tests/serve, tests/security): a small corpus with a restricted document,
four keys, a running server. A conftest imports them to use them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.serve_support import DOCS, Keys, make_keys, running
from tailor.kb.knowledge_base import KnowledgeBase
from tailor.serve.app import create_app
from tailor.serve.config import LimitsConfig, ServeConfig, ServeSettings


@pytest.fixture(scope="session")
def base_kb(tmp_path_factory: pytest.TempPathFactory, embedder) -> Path:
    """The corpus, ingested once; tests that serve it get their own copy."""
    path = tmp_path_factory.mktemp("serve-kb") / "kb"
    kb = KnowledgeBase.open(path, embedder=embedder)
    kb.ingest_documents(DOCS)
    kb.close()
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, base_kb: Path) -> tuple[Path, ServeSettings, Keys]:
    """A copy of the corpus, settings with a home of their own, and four keys."""
    root = tmp_path_factory.mktemp("served")
    shutil.copytree(base_kb, root / "kb")
    settings = ServeSettings(serve=ServeConfig(home=root / "home", reports=root / "reports",
                                               limits=LimitsConfig(max_upload_bytes=64 * 1024,
                                                                   max_file_bytes=16 * 1024)))
    return root / "kb", settings, make_keys(settings.serve.keys_file)


@pytest.fixture(scope="module")
def server(served, embedder) -> Iterator[str]:
    """The base URL of a real server over the module's copy of the corpus."""
    kb_path, settings, _ = served
    with running(create_app(kb_path, settings, embedder=embedder)) as base:
        yield base


@pytest.fixture(scope="module")
def keys(served) -> Keys:
    return served[2]
