"""Context focus: the prompt gets the few sentences that matter, not whole chunks.

A model of a few hundred million parameters reads one short passage well and three long ones badly (it
echoes headings and the question; benchmarks/rag_prompt_choice.py). `SentenceFocus` ranks the sentences
of the retrieved chunks with the extractive reader's ranking model (nothing is embedded) and hands the
prompt the best `sentences` of them, each with `window` neighbours on either side, as narrowed hits: the
same chunk id and document, the text and span of the window. Citations therefore still point at exact
document spans, and the answer keeps the full hits for the retrieval scores.

It also gives the reader's confidence that the best sentence answers the question (its calibrated
logistic model), so a strategy can abstain below a threshold without generating: a small model almost
never says it does not know on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from tailor.generate.extractive import ExtractiveReader, confidence
from tailor.generate.sentences import split_sentences
from tailor.records import Hit


@dataclass
class Focused:
    hits: list[Hit]
    confidence: float  # the extractive reader's, in [0, 1]; 0 when no sentence was found


class SentenceFocus:
    def __init__(self, reader: ExtractiveReader, sentences: int = 3, window: int = 1) -> None:
        if sentences < 1 or window < 0:
            raise ValueError(f"focus needs sentences >= 1 and window >= 0, not {sentences} and {window}")
        self.reader = reader
        self.sentences = sentences
        self.window = window

    def __call__(self, question: str, hits: Sequence[Hit]) -> Focused:
        """The narrowed hits, best sentence first (windows that overlap in one chunk are merged)."""
        ranked = self.reader.candidates(question, hits)
        if not ranked:
            return Focused(list(hits[:1]), 0.0)
        windows: list[tuple[Hit, int, int]] = []
        for candidate in ranked[: self.sentences]:
            start, end = self._window(candidate.hit.chunk.text, candidate.start, candidate.end)
            for i, (hit, a, b) in enumerate(windows):
                if hit.chunk.id == candidate.hit.chunk.id and start < b and a < end:
                    windows[i] = (hit, min(a, start), max(b, end))
                    break
            else:
                windows.append((candidate.hit, start, end))
        sure = confidence(self.reader.confidence_features(question, ranked))
        return Focused([self._narrowed(hit, a, b) for hit, a, b in windows], sure)

    def _window(self, text: str, start: int, end: int) -> tuple[int, int]:
        spans = split_sentences(text) or [(0, len(text))]
        index = next((i for i, (a, b) in enumerate(spans) if a <= start < b), 0)
        first, last = max(0, index - self.window), min(len(spans) - 1, index + self.window)
        return min(spans[first][0], start), max(spans[last][1], end)

    @staticmethod
    def _narrowed(hit: Hit, start: int, end: int) -> Hit:
        chunk = hit.chunk
        narrowed = replace(chunk, text=chunk.text[start:end], start=chunk.start + start, end=chunk.start + end)
        return replace(hit, chunk=narrowed)
