"""How a training example looks to the model: the prompts and completions of each data format.

Prompts are rendered by the answering layer's `PromptBuilder` from the templates the `finetuned` and
`hybrid` strategies use (templates/*.jinja), so an adapter is trained on exactly the messages it is
asked at inference: a system message, then a user message.

    qa    (strategy finetuned)  user: the question              assistant: the answer
    raft  (strategy hybrid)     user: numbered documents and    assistant: 'Quote [n]: "<sentence of
                                the question (Zhang et al.       the oracle>"' then a last line
                                2024)                            'Answer: <answer> [n]'
    cpt                         plain text "<title>\\n\\n<chunk>", trained on every token
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tailor.generate.base import Message
from tailor.generate.prompts import PromptBuilder
from tailor.records import Hit

TEMPLATES = Path(__file__).with_name("templates")
FINETUNED_TEMPLATE = str(TEMPLATES / "finetuned.jinja")
HYBRID_TEMPLATE = str(TEMPLATES / "hybrid.jinja")
ANSWER_PREFIX = "Answer:"


def closed_book_prompt(question: str) -> list[Message]:
    """The question alone: the adapter must know the answer."""
    return PromptBuilder(FINETUNED_TEMPLATE).build(question, []).messages


def raft_prompt(question: str, hits: Sequence[Hit]) -> list[Message]:
    """Numbered documents (the hits, in order) and the question."""
    return PromptBuilder(HYBRID_TEMPLATE).build(question, list(hits)).messages


def raft_completion(quote: str, answer: str, block: int | None) -> str:
    """The chain of thought RAFT trains on: a verbatim quote, then the final answer line.

    `block` is the oracle's document number, or None when the oracle was left out of the context:
    then the answer comes from memory and cites nothing.
    """
    cite = f" [{block}]" if block else ""
    return f'Quote{cite}: "{quote.strip()}"\n{ANSWER_PREFIX} {answer.strip()}{cite}'


def cpt_text(title: str, text: str) -> str:
    return f"{title.strip()}\n\n{text.strip()}" if title.strip() else text.strip()


def assistant(content: str) -> list[Message]:
    return [{"role": "assistant", "content": content}]


def final_answer(text: str) -> str:
    """The answer in a completion: after the last 'Answer:' (else the first line), [n] markers removed."""
    if ANSWER_PREFIX in text:
        text = text.rsplit(ANSWER_PREFIX, 1)[1]
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    while line.endswith("]") and "[" in line and line[line.rindex("[") + 1 : -1].isdigit():
        line = line[: line.rindex("[")].rstrip()
    return line
