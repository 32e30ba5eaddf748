"""Local Hugging Face causal LMs (optionally with a PEFT LoRA adapter) as generators."""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from collections.abc import Generator as PyGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

from tailor.base_models import resolve_base_model
from tailor.generate.base import (
    DEFAULT_CONFIG,
    Generation,
    GenerationConfig,
    GeneratorError,
    Message,
    StopFilter,
    cut_at_stop,
)

log = logging.getLogger("tailor.generate")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _pick_device(device: str | None) -> str:
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def _pick_dtype(dtype: str | None, device: str) -> torch.dtype:
    if dtype is not None:
        value = getattr(torch, dtype, None)
        if not isinstance(value, torch.dtype):
            raise GeneratorError(f"unknown dtype {dtype!r}; use e.g. 'float32', 'bfloat16', 'float16'")
        return value
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def context_window(model: Any) -> int | None:
    """The longest sequence the model was built for (prompt and answer), when its config says."""
    return getattr(getattr(model, "config", None), "max_position_embeddings", None)


def fit_context(inputs: Any, window: int | None, max_new_tokens: int) -> dict[str, torch.Tensor]:
    """The prompt, cut to leave room for the answer inside the model's window: its head (the instructions)
    and its tail (the latest context and the question) are kept, the middle is dropped."""
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    budget = (window or 0) - max_new_tokens
    if window is None or ids.shape[1] <= budget:
        return {"input_ids": ids, "attention_mask": mask}
    if budget < 8:
        raise GeneratorError(f"max_new_tokens={max_new_tokens} leaves no room for a prompt in the model's "
                             f"{window}-token window")
    head = budget // 4
    tail = budget - head
    return {"input_ids": torch.cat([ids[:, :head], ids[:, -tail:]], dim=1),
            "attention_mask": torch.cat([mask[:, :head], mask[:, -tail:]], dim=1)}


def plain_prompt(messages: list[Message]) -> str:
    """Prompt for tokenizers without a chat template: "Role: content" blocks, then "Assistant:"."""
    turns = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n\n".join([*turns, "Assistant:"])


class _Cancelled(StoppingCriteria):
    """Stops generation once the consumer of a stream goes away."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any
    ) -> torch.BoolTensor:
        return torch.full(
            (input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device
        )


def _quantized(model: Any) -> bool:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return bool(getattr(base, "is_loaded_in_4bit", False) or getattr(base, "is_loaded_in_8bit", False)
                or getattr(base.config, "quantization_config", None))


def _int8(model: PreTrainedModel) -> PreTrainedModel:
    """The decoder's Linear layers as dynamically quantised int8 (per-channel weights, fp32 activations)."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    model.model = quantize_dynamic(model.model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)
    return model


def _bf16(model: PreTrainedModel) -> PreTrainedModel:
    """Every weight in bfloat16: half the bytes to read per token (a CPU with AVX-512 BF16 computes in it)."""
    return model.to(torch.bfloat16)


QUANTIZERS: dict[str | None, Callable[[PreTrainedModel], PreTrainedModel]] = {
    None: lambda model: model, "int8": _int8, "bf16": _bf16,
}


@dataclass
class _Loaded:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    eos_ids: frozenset[int]
    pad_id: int | None


_SHARED: weakref.WeakValueDictionary[tuple[Any, ...], _Loaded] = weakref.WeakValueDictionary()
"""Loaded models by what they were loaded from, while any generator holds them: two generators of the same
model, adapter and precision (compare's answering and freshness phases over two knowledge bases, the API's
routes) share one copy instead of loading it again (3 to 7 s each for SmolLM2-135M on a CPU)."""
_SHARED_LOCK = threading.Lock()


class HFGenerator:
    """A causal LM loaded with transformers from a hub id, a local directory, a `.gguf` file or a bundled
    short name (tailor.base_models), loaded on first use.

    `generate_batch` answers many conversations at once: sorted by length, `batch_size` at a time, left
    padded. `quantize="int8"` swaps the decoder's Linear layers for dynamically quantised int8 ones
    (per-channel weights; the embeddings and the tied output layer stay fp32); `quantize="bf16"` casts
    every weight to bfloat16. Both are faster on a CPU; benchmarks/generation_speed.py measures what each
    costs in accuracy.
    """

    def __init__(
        self, model: str, adapter: str | None = None, device: str | None = None, dtype: str | None = None,
        quantize: str | None = None, batch_size: int = 8,
    ) -> None:
        if quantize not in QUANTIZERS:
            raise GeneratorError(f"unknown quantize {quantize!r}; use one of {sorted(q for q in QUANTIZERS if q)} or none")
        if batch_size < 1:
            raise GeneratorError(f"batch_size must be at least 1, not {batch_size}")
        self.model_id = model
        self.adapter = adapter
        self.device = _pick_device(device)
        self.dtype = _pick_dtype(dtype, self.device)
        self.quantize = quantize
        self.batch_size = batch_size
        self.name = f"hf:{model}" + (f"+adapter:{adapter}" if adapter else "") + (f"+{quantize}" if quantize else "")
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()
        self._warned_cut = False

    def _load(self) -> _Loaded:
        with self._lock:
            if self._loaded is None:
                key = (self.model_id, self.adapter, str(self.device), str(self.dtype), self.quantize)
                with _SHARED_LOCK:
                    self._loaded = _SHARED.get(key)
                if self._loaded is None:
                    self._loaded = self._load_now()
                    with _SHARED_LOCK:
                        _SHARED[key] = self._loaded
            return self._loaded

    def _load_now(self) -> _Loaded:
        local = {"local_files_only": True} if _offline() else {}
        for kind, ref in (("model", self.model_id), ("adapter", self.adapter)):
            if ref and ref.startswith((".", "/", "~")) and not Path(ref).expanduser().exists():
                raise GeneratorError(f"{kind} path does not exist: {ref}")
        try:
            source = resolve_base_model(self.model_id)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=self.dtype, **local)
            tokenizer = AutoTokenizer.from_pretrained(source, **local)
        except (OSError, ValueError) as exc:
            raise GeneratorError(f"cannot load model {self.model_id!r} as a causal LM: {exc}") from exc
        if self.adapter:
            from peft import PeftModel

            try:
                model = PeftModel.from_pretrained(model, self.adapter, **local)
            except (OSError, ValueError) as exc:
                raise GeneratorError(
                    f"cannot load adapter {self.adapter!r} onto {self.model_id!r}: {exc}"
                ) from exc
            if not _quantized(model):
                # Folded into the base weights, the adapter costs nothing per token: 32 tokens of the demo's
                # scratch model took 103 ms with the LoRA layers separate, 60 ms merged (the base alone: 61 ms).
                # A quantised base keeps it separate.
                model = model.merge_and_unload()
        model.to(self.device).eval()
        model = QUANTIZERS[self.quantize](model)
        eos = model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        eos_ids = frozenset([eos] if isinstance(eos, int) else eos or [])
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_ids, default=None)
        return _Loaded(model, tokenizer, eos_ids, pad_id)

    def build_prompt(self, messages: list[Message]) -> str:
        """Render messages with the tokenizer's chat template, or the plain format without one."""
        tokenizer = self._load().tokenizer
        if tokenizer.chat_template:
            return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return plain_prompt(messages)

    def _encode(self, messages: list[Message], config: GenerationConfig) -> dict[str, torch.Tensor]:
        """The prompt's token ids, cut to the model's window (head and tail kept) when too long."""
        loaded = self._load()
        tokenizer = loaded.tokenizer
        inputs = tokenizer(
            self.build_prompt(messages),
            add_special_tokens=not tokenizer.chat_template,
            return_tensors="pt",
        )
        window = context_window(loaded.model)
        fitted = fit_context(inputs, window, config.max_new_tokens)
        if fitted["input_ids"].shape[1] < inputs["input_ids"].shape[1] and not self._warned_cut:
            self._warned_cut = True  # once per generator: a RAG run would repeat it for every question
            log.warning("prompts longer than %s's %d-token window are cut (head and tail kept), e.g. %d -> %d tokens",
                        self.model_id, window, inputs["input_ids"].shape[1], fitted["input_ids"].shape[1])
        return fitted

    def _decoding_kwargs(self, config: GenerationConfig) -> dict[str, Any]:
        loaded = self._load()
        kwargs: dict[str, Any] = {
            "max_new_tokens": config.max_new_tokens,
            "pad_token_id": loaded.pad_id,
            "tokenizer": loaded.tokenizer,
        }
        if config.stop:
            kwargs["stop_strings"] = [s for s in config.stop if s]
        if config.temperature > 0:
            if config.seed is not None:
                torch.manual_seed(config.seed)
            kwargs.update(do_sample=True, temperature=config.temperature, top_p=config.top_p, top_k=None)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kwargs

    def _generate_kwargs(self, messages: list[Message], config: GenerationConfig) -> dict[str, Any]:
        fitted = self._encode(messages, config)
        return {**{k: v.to(self.device) for k, v in fitted.items()}, **self._decoding_kwargs(config)}

    def _finish(self, output: torch.Tensor, n_in: int, config: GenerationConfig) -> Generation:
        return self._finished(output[0, n_in:].tolist(), n_in, config)

    def _finished(self, new_ids: list[int], n_in: int, config: GenerationConfig) -> Generation:
        loaded = self._load()
        ends = [i for i, token in enumerate(new_ids) if token in loaded.eos_ids]
        if ends:  # in a batch, a row that ended early is padded after its EOS
            new_ids = new_ids[: ends[0] + 1]
        text, hit_stop = cut_at_stop(loaded.tokenizer.decode(new_ids, skip_special_tokens=True), config.stop)
        ended = hit_stop or bool(ends)
        finish = "length" if len(new_ids) >= config.max_new_tokens and not ended else "stop"
        return Generation(text=text, tokens_in=n_in, tokens_out=len(new_ids), finish_reason=finish)

    def generate(self, messages: list[Message], config: GenerationConfig = DEFAULT_CONFIG) -> Generation:
        """Complete the conversation in one go."""
        kwargs = self._generate_kwargs(messages, config)
        with torch.inference_mode():
            output = self._load().model.generate(**kwargs)
        return self._finish(output, kwargs["input_ids"].shape[1], config)

    def generate_batch(
        self, conversations: Sequence[list[Message]], config: GenerationConfig = DEFAULT_CONFIG
    ) -> list[Generation]:
        """Complete every conversation; greedy answers equal `generate`'s up to padding's rounding."""
        prompts = [self._encode(messages, config)["input_ids"][0] for messages in conversations]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths pad least
        results: dict[int, Generation] = {}
        decoding = self._decoding_kwargs(config)
        pad = self._load().pad_id if self._load().pad_id is not None else 0
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = max(len(prompts[i]) for i in rows)
            ids = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for row, i in enumerate(rows):
                ids[row, width - len(prompts[i]) :] = prompts[i]
                mask[row, width - len(prompts[i]) :] = 1
            with torch.inference_mode():
                output = self._load().model.generate(
                    input_ids=ids.to(self.device), attention_mask=mask.to(self.device), **decoding
                )
            for row, i in enumerate(rows):
                results[i] = self._finished(output[row, width:].tolist(), len(prompts[i]), config)
        return [results[i] for i in range(len(prompts))]

    def stream(
        self, messages: list[Message], config: GenerationConfig = DEFAULT_CONFIG
    ) -> PyGenerator[str, None, Generation]:
        """Yield text pieces as they are decoded; the generator returns the final Generation."""
        kwargs = self._generate_kwargs(messages, config)
        streamer = TextIteratorStreamer(kwargs["tokenizer"], skip_prompt=True, skip_special_tokens=True)
        cancel = threading.Event()
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["output"] = self._load().model.generate(
                    **kwargs, streamer=streamer, stopping_criteria=StoppingCriteriaList([_Cancelled(cancel)])
                )
            except Exception as exc:  # surfaced in the consumer's thread below
                result["error"] = exc
                streamer.end()

        thread = threading.Thread(target=run, name=f"stream {self.name}", daemon=True)
        thread.start()
        stop = StopFilter(config.stop)
        try:
            for piece in streamer:
                if text := stop.feed(piece):
                    yield text
            if text := stop.flush():
                yield text
        finally:
            cancel.set()
            thread.join()
        if error := result.get("error"):
            raise GeneratorError(f"generation with {self.name} failed: {error}") from error
        return self._finish(result["output"], kwargs["input_ids"].shape[1], config)
