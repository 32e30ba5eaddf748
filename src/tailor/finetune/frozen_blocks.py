"""The frozen blocks below the LoRA layers run once per training example, not once per epoch.

With `lora_layers: N` only the top N transformer blocks train; the blocks below hold no trainable weight and,
without dropout, give an example the same hidden states at every epoch. The bundled SmolLM2-135M trains the top
10 of its 30 blocks for 6 epochs, so two thirds of every later forward pass repeat earlier work. Before the first
step, the training set runs once through the model (in order, no gradients) and the hidden states leaving the last
frozen block are kept per packed example, keyed by its token ids: packing restarts positions at every example and
attention stays within it, so they depend on nothing else. Each training step whose examples are all kept starts
from them; any other forward pass (evaluation, generation, padded batches) runs every block as before. The same
loss and gradients (tests/finetune/test_frozen_blocks.py); the estimate the budget prints is then the true rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from itertools import pairwise
from typing import Any

import torch
from torch import nn
from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments

MAX_BYTES = 2 * 1024**3  # hidden states kept in memory at most; a larger training set trains uncached


def _base(model: nn.Module) -> nn.Module:
    return model.get_base_model() if hasattr(model, "get_base_model") else model  # under PEFT's wrapper


def frozen_block_count(model: nn.Module) -> int:
    """How many of the model's first decoder blocks have no trainable weight (0 when their outputs can change)."""
    base = _base(model)
    layers = getattr(base.get_decoder(), "layers", None)
    dropout = any(isinstance(value, float) and value > 0 and ("dropout" in name or "pdrop" in name)
                  for name, value in base.config.to_dict().items())
    if layers is None or dropout or any(p.requires_grad for p in base.get_input_embeddings().parameters()):
        return 0
    count = 0
    for layer in layers:
        if any(p.requires_grad for p in layer.parameters()):
            break
        count += 1
    return count


class _Kept(Exception):
    """Raised by the last frozen block while the cache fills: the blocks above it have nothing to add."""


def _examples(input_ids: torch.Tensor, cu_seq_lens: torch.Tensor) -> list[tuple[bytes, int]]:
    """Each packed example's key (its token ids) and length."""
    ids = input_ids[0].cpu().numpy()
    bounds = cu_seq_lens.tolist()
    return [(ids[start:end].tobytes(), end - start) for start, end in pairwise(bounds)]


class FrozenBlocksCache(TrainerCallback):
    """Fills the cache when training begins, serves training steps from it, and lets go when training ends."""

    def __init__(self, trainer: Trainer, frozen: int, say: Callable[[str], None], record: dict[str, Any]) -> None:
        """`record` (the adapter's manifest) gets what was kept under "frozen_blocks"."""
        self.trainer = trainer
        self.frozen = frozen
        self.say = say
        self.entries: dict[bytes, torch.Tensor] = {}
        self.examples: list[tuple[bytes, int]] | None = None  # of the forward pass under way, when cacheable
        self.hit = False
        self.filling = False
        self.handles: list[Any] = []
        self.record: dict[str, Any] = {"blocks": frozen, "cached_examples": 0, "bytes": 0, "fill_seconds": 0.0,
                                       "steps_served": 0}
        record["frozen_blocks"] = self.record

    # -- the hooks ------------------------------------------------------------------------------------------------
    def _decoder(self) -> nn.Module:
        return _base(self.trainer.model).get_decoder()

    def _attach(self) -> None:
        decoder = self._decoder()
        self.handles.append(decoder.register_forward_pre_hook(self._see_inputs, with_kwargs=True))
        for index, layer in enumerate(decoder.layers[: self.frozen]):
            layer.forward = partial(self._block_forward, layer.forward, index == self.frozen - 1)

    def _detach(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
        for layer in self._decoder().layers[: self.frozen]:
            del layer.forward  # back to the class's forward
        self.entries.clear()

    def _see_inputs(self, module: nn.Module, args: tuple, kwargs: dict[str, Any]) -> None:
        input_ids, cu_seq_lens = kwargs.get("input_ids"), kwargs.get("cu_seq_lens_q")
        cacheable = (self.filling or module.training) and input_ids is not None and cu_seq_lens is not None
        self.examples = _examples(input_ids, cu_seq_lens) if cacheable and input_ids.shape[0] == 1 else None
        self.hit = self.examples is not None and all(key in self.entries for key, _ in self.examples)

    def _block_forward(self, forward: Callable[..., torch.Tensor], last: bool, hidden_states: torch.Tensor,
                       *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.hit and last:
            self.record["steps_served"] += 1
            return torch.cat([self.entries[key] for key, _ in self.examples]).unsqueeze(0)
        if self.hit:
            return hidden_states
        out = forward(hidden_states, *args, **kwargs)
        if last and self.examples is not None:
            self._keep(out)
            if self.filling:
                raise _Kept
        return out

    def _keep(self, hidden_states: torch.Tensor) -> None:
        start = 0
        for key, length in self.examples:
            if key not in self.entries and self.record["bytes"] < MAX_BYTES:
                kept = hidden_states[0, start:start + length].detach().clone()
                self.entries[key] = kept
                self.record["bytes"] += kept.numel() * kept.element_size()
            start += length

    # -- the training events ----------------------------------------------------------------------------------------
    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> None:
        started = time.perf_counter()
        self._attach()
        self.filling = True
        try:
            with torch.no_grad():
                for batch in self.trainer.get_eval_dataloader(self.trainer.train_dataset):
                    inputs = self.trainer._prepare_inputs(batch)
                    with suppress(_Kept):
                        self.trainer.model(**{k: v for k, v in inputs.items() if k != "labels"}, use_cache=False)
        finally:
            self.filling = False
        self.record.update(cached_examples=len(self.entries), fill_seconds=round(time.perf_counter() - started, 1))
        if state.is_world_process_zero:
            self.say(f"frozen blocks: the outputs of the first {self.frozen} blocks kept for {len(self.entries):,} "
                     f"examples ({self.record['bytes'] / 2**20:.0f} MiB) in {self.record['fill_seconds']:g} s")

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                     **kwargs: Any) -> None:
        self._detach()
