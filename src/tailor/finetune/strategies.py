"""The `finetuned` and `hybrid` answering strategies, registered into `tailor.generate.strategies`.

Both load a PEFT adapter onto an `hf:` generator (`tailor ask --generator hf:BASE --adapter DIR`,
where DIR is a registry entry's `adapter/` folder: `tailor adapters show NAME` prints it) and render
their prompts from the same templates the training data was built with (`formats.py`).

    finetuned  closed book: the adapter answers from what it learned (train it on format `qa`)
    hybrid     retrieval + adapter: the top-k chunks as numbered documents (train it on format `raft`;
               its answers quote a document and end with "Answer: ...", see `formats.final_answer`)
"""

from __future__ import annotations

from tailor.finetune.formats import FINETUNED_TEMPLATE, HYBRID_TEMPLATE
from tailor.generate.strategies import STRATEGIES, StrategySpec

STRATEGIES["finetuned"] = StrategySpec(
    "A fine-tuned adapter alone, no retrieval: what training put into the weights.",
    FINETUNED_TEMPLATE,
    retrieves=False,
    needs_adapter=True,
)
STRATEGIES["hybrid"] = StrategySpec(
    "Retrieve top-k chunks and answer with a fine-tuned adapter (best trained on RAFT data).",
    HYBRID_TEMPLATE,
    retrieves=True,
    needs_adapter=True,
)
