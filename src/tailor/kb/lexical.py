"""BM25 kept as term counts and scored at query time, so that chunks can be added and removed one commit at a time.

bm25s bakes the idf and the length norm into the matrix it builds, so one added or removed chunk changes
every stored score. Here each segment of the index keeps raw counts (`TermCounts`: a CSC matrix whose
columns are posting lists, and each chunk's length) and `Bm25Stats` keeps, for the live chunks of one
version, the document frequencies, the count and the total length. A query computes bm25s's default BM25
("lucene": idf = ln(1 + (N - df + 0.5) / (df + 0.5)), k1 = 1.5, b = 0.75) from them: the scores a full
bm25s build of the live chunks gives (tests/kb/test_incremental_index.py compares the two).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import bm25s
import numpy as np
import scipy.sparse as sp
import Stemmer

K1, B = 1.5, 0.75  # bm25s.BM25's defaults
_STEMMER = Stemmer.Stemmer("english")


def bm25_tokenize(texts: list[str]) -> list[list[str]]:
    return bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER, return_ids=False, show_progress=False)


class Vocabulary:
    """Stemmed term -> term id, shared by every version of one index and only ever appended to (a version
    knows the ids below its `Bm25Stats.n_terms`; a later version's new terms are unknown to it)."""

    def __init__(self, terms: Sequence[str] = ()):
        self.ids = {term: i for i, term in enumerate(terms)}

    def __len__(self) -> int:
        return len(self.ids)

    def terms(self) -> list[str]:
        return list(self.ids)

    def add(self, terms: Sequence[str]) -> np.ndarray:
        return np.array([self.ids.setdefault(term, len(self.ids)) for term in terms], dtype=np.int64)


@dataclass(frozen=True)
class TermCounts:
    """How often each term occurs in each chunk of one segment, and each chunk's length in terms."""

    postings: sp.csc_matrix  # chunks x terms known when counted; column t lists the chunks holding term t
    lengths: np.ndarray

    @classmethod
    def count(cls, texts: list[str], vocabulary: Vocabulary) -> TermCounts:
        tokenized = bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER, return_ids=True, show_progress=False)
        local_terms = sorted(tokenized.vocab, key=tokenized.vocab.__getitem__)
        global_ids = vocabulary.add(local_terms)  # bm25s's ids for this batch -> the shared ids
        lengths = np.array([len(ids) for ids in tokenized.ids], dtype=np.int64)
        columns = global_ids[np.fromiter((i for ids in tokenized.ids for i in ids), dtype=np.int64, count=lengths.sum())]
        rows = np.repeat(np.arange(len(texts)), lengths)
        counts = sp.csc_matrix((np.ones(len(rows), dtype=np.float32), (rows, columns)), shape=(len(texts), len(vocabulary)))
        counts.sum_duplicates()
        return cls(counts, lengths)

    @classmethod
    def stack(cls, parts: list[TermCounts], keep: list[np.ndarray], n_terms: int) -> TermCounts:
        """The kept rows of several segments' counts, in order, as one."""
        matrices = [_widen(p.postings, n_terms).tocsr()[k] for p, k in zip(parts, keep, strict=True)]
        stacked = sp.vstack(matrices, format="csc") if matrices else sp.csc_matrix((0, n_terms), dtype=np.float32)
        lengths = np.concatenate([p.lengths[k] for p, k in zip(parts, keep, strict=True)] or [np.zeros(0, np.int64)])
        return cls(stacked.astype(np.float32), lengths.astype(np.int64))

    def __len__(self) -> int:
        return len(self.lengths)

    @cached_property
    def _by_row(self) -> sp.csr_matrix:
        return self.postings.tocsr()

    def doc_freq(self, rows: np.ndarray | None = None) -> np.ndarray:
        """For each term known here, how many of `rows` (all when None) hold it."""
        if rows is None:
            return np.diff(self.postings.indptr)
        matrix = self._by_row[rows]
        return np.bincount(matrix.indices, minlength=self.postings.shape[1])


def _widen(matrix: sp.csc_matrix, n_terms: int) -> sp.csc_matrix:
    """The same counts with empty columns for the terms added to the vocabulary after they were taken."""
    missing = n_terms - matrix.shape[1]
    indptr = np.concatenate([matrix.indptr, np.full(missing, matrix.indptr[-1], dtype=matrix.indptr.dtype)])
    return sp.csc_matrix((matrix.data, matrix.indices, indptr), shape=(matrix.shape[0], n_terms))


@dataclass(frozen=True)
class Bm25Stats:
    """The collection statistics of one version's live chunks."""

    vocabulary: Vocabulary
    doc_freq: np.ndarray  # per term id below n_terms
    n_chunks: int
    total_length: int

    @classmethod
    def empty(cls, vocabulary: Vocabulary) -> Bm25Stats:
        return cls(vocabulary, np.zeros(len(vocabulary), dtype=np.int64), 0, 0)

    @property
    def n_terms(self) -> int:
        return len(self.doc_freq)

    def added(self, counts: TermCounts) -> Bm25Stats:
        return self._changed(counts.doc_freq(), len(counts), int(counts.lengths.sum()))

    def removed(self, counts: TermCounts, rows: np.ndarray) -> Bm25Stats:
        return self._changed(-counts.doc_freq(rows), -len(rows), -int(counts.lengths[rows].sum()))

    def _changed(self, doc_freq: np.ndarray, n_chunks: int, total_length: int) -> Bm25Stats:
        merged = np.zeros(max(self.n_terms, len(doc_freq), len(self.vocabulary)), dtype=np.int64)
        merged[: self.n_terms] = self.doc_freq
        merged[: len(doc_freq)] += doc_freq
        return Bm25Stats(self.vocabulary, merged, self.n_chunks + n_chunks, self.total_length + total_length)

    def query_terms(self, query: str) -> np.ndarray:
        """The query's term ids this version knows, repeats kept (bm25s scores a repeated term again)."""
        ids = [self.vocabulary.ids.get(term, -1) for term in bm25_tokenize([query])[0]]
        return np.array([i for i in ids if 0 <= i < self.n_terms], dtype=np.int64)

    def scores(self, terms: np.ndarray, segments: Sequence[TermCounts], n_rows: int) -> np.ndarray:
        """BM25 of every row of `segments` (concatenated) for the query `terms`; dead rows get scores too,
        which the caller masks out."""
        scores = np.zeros(n_rows, dtype=np.float64)
        if not len(terms) or not self.n_chunks:
            return scores
        df = self.doc_freq[terms]
        idf = np.log(1 + (self.n_chunks - df + 0.5) / (df + 0.5))
        average = self.total_length / self.n_chunks
        offset = 0
        for counts in segments:
            postings = counts.postings
            for term, weight in zip(terms.tolist(), idf.tolist(), strict=True):
                if term >= postings.shape[1]:
                    continue
                start, end = postings.indptr[term], postings.indptr[term + 1]
                rows, tf = postings.indices[start:end], postings.data[start:end].astype(np.float64)
                norm = K1 * (1 - B + B * counts.lengths[rows] / average)
                scores[offset + rows] += weight * tf / (tf + norm)
            offset += len(counts)
        return scores
