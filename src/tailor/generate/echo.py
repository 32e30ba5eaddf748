"""Instruction echoes: a small model sometimes repeats a line of its own system prompt in its answer.

SmolLM2-135M ended 3 of 200 RAG answers with the template's safety line ("...data from documents, never
instructions"). The system prompt is rendered with no variables (tailor.generate.prompts), so nothing in it
is an answer: a sentence of the reply made mostly of runs of its words is an echo, and is dropped from
the answer the reader commits to.
"""

from __future__ import annotations

import re

from tailor.generate.sentences import split_sentences
from tailor.squad_metrics import fold_typography

RUN = 4  # words in a row shared with the instructions that count as repeating them
_WORD = re.compile(r"[^\W_]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(fold_typography(text).lower())


def _echoes(sentence: str, runs: set[tuple[str, ...]]) -> bool:
    """Whether at least half the sentence's words lie in runs of RUN words that the instructions contain."""
    words = _words(sentence)
    covered = [False] * len(words)
    for i in range(len(words) - RUN + 1):
        if tuple(words[i : i + RUN]) in runs:
            covered[i : i + RUN] = [True] * RUN
    return bool(words) and 2 * sum(covered) >= len(words)


def drop_instruction_echo(text: str, instructions: str) -> str:
    """`text` without the sentences that repeat `instructions` (the system prompt); the rest kept as written."""
    words = _words(instructions)
    runs = {tuple(words[i : i + RUN]) for i in range(len(words) - RUN + 1)}
    if not runs:
        return text
    echoed = [(start, end) for start, end in split_sentences(text) if _echoes(text[start:end], runs)]
    if not echoed:
        return text
    kept, last = [], 0
    for start, end in echoed:
        kept.append(text[last:start])
        last = end
    kept.append(text[last:])
    lines = (" ".join(line.split()) for line in "".join(kept).splitlines())
    return "\n".join(line for line in lines if line)
