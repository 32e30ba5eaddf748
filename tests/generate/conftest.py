from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from helpers.tiny_llm import build_eos_first_llama, build_tiny_llama, build_tiny_lora_adapter  # noqa: E402
from tailor.generate.hf import HFGenerator  # noqa: E402


@pytest.fixture(scope="session")
def tiny_llm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_adapter_dir(tiny_llm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_lora_adapter(tiny_llm_dir, tmp_path_factory.mktemp("tiny-lora"))


@pytest.fixture(scope="session")
def eos_llm_dir(tiny_llm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_eos_first_llama(tiny_llm_dir, tmp_path_factory.mktemp("eos-llama"))


@pytest.fixture(scope="session")
def tiny_generator(tiny_llm_dir: Path) -> HFGenerator:
    return HFGenerator(str(tiny_llm_dir), device="cpu")
