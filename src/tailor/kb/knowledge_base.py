"""The knowledge base as users script it: open, ingest, search, inspect, remove."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tailor.kb.chunking import DocumentChunker
from tailor.kb.config import IndexConfig, KBConfig
from tailor.kb.embedding import Embedder, make_embedder
from tailor.kb.embedding_cache import EmbeddingCache
from tailor.kb.ingest import Ingestor, IngestReport, ProgressCallback
from tailor.kb.local_store import LocalStore
from tailor.kb.retrieval import Retriever
from tailor.kb.store import SearchFilter, Store, StoredDocument, VersionInfo
from tailor.records import Document, SearchResult

DEFAULT_GROUPS = ("public",)


def _milvus(uri: str) -> Store:
    from tailor.kb.milvus_store import MilvusStore  # pymilvus is the optional `milvus` extra

    return MilvusStore(uri)


# Store backends by URI scheme; a plain path is the embedded local store, unless its suffix names a
# backend in PATH_SCHEMES (a `.db` path is a Milvus Lite database).
STORES: dict[str, Callable[[str], Store]] = {
    "": lambda uri: LocalStore(Path(uri)),
    "milvus": _milvus,
    "milvus-lite": _milvus,
}
PATH_SCHEMES = {".db": "milvus-lite"}


def canonical_uri(uri: str | Path) -> str:
    """`milvus:/host` (what `Path("milvus://host")` makes of a URI, e.g. from `--kb`) back to `milvus://host`."""
    text = str(uri)
    scheme, sep, rest = text.partition(":/")
    return f"{scheme}://{rest}" if sep and scheme and scheme in STORES and not rest.startswith("/") else text


def store_scheme(uri: str) -> str:
    if "://" in uri:
        return uri.split("://", 1)[0]
    return PATH_SCHEMES.get(Path(uri.partition("?")[0]).suffix, "")


def open_store(uri: str) -> Store:
    uri = canonical_uri(uri)
    scheme = store_scheme(uri)
    if scheme not in STORES:  # checked apart from the call: a KeyError inside a backend is its own error
        raise ValueError(f"no store backend for {scheme}:// (known: {sorted(s for s in STORES if s)})")
    return STORES[scheme](uri)


def open_existing_store(uri: str | Path) -> Store:
    """The store at `uri` if a knowledge base is there (FileNotFoundError naming it otherwise). Unlike
    `open_store`, a missing folder or Milvus Lite file is not created."""
    uri = canonical_uri(uri)
    if "://" not in uri:
        path = Path(uri.partition("?")[0])
        if not (path / "kb.sqlite").is_file() if store_scheme(uri) == "" else not path.exists():
            raise FileNotFoundError(f"no knowledge base at {uri}; run `tailor ingest` first")
    store = open_store(uri)
    if store.get_meta("index_config") is None:  # a server or database with no knowledge base in it
        store.close()
        raise FileNotFoundError(f"no knowledge base at {uri}; run `tailor ingest` first")
    return store


class KnowledgeBase:
    """Documents -> chunks -> vectors and BM25 -> filtered hybrid search, versioned on every commit.

    >>> kb = KnowledgeBase.open("my-kb")                       # doctest: +SKIP
    >>> kb.ingest(["docs/"], groups=("public",))               # doctest: +SKIP
    >>> kb.search("refund window", groups=("public",)).hits    # doctest: +SKIP
    """

    def __init__(self, uri: str, store: Store, config: KBConfig, embedder: Embedder | None = None):
        self.uri = uri
        self.store = store
        self.config = config
        index = config.index
        self.embedder = embedder or make_embedder(
            index.embedder.backend, **index.embedder.model_dump(exclude={"backend"}), devices=config.ingest.embed_devices
        )
        self.retriever = Retriever(store, self.embedder, config.retrieval)
        self._ingestor: Ingestor | None = None

    @classmethod
    def open(
        cls, uri: str | Path, config: KBConfig | None = None, embedder: Embedder | None = None, must_exist: bool = False
    ) -> KnowledgeBase:
        """Open or create a knowledge base (with `must_exist`, only open one). The index settings of an
        existing one are kept."""
        uri = canonical_uri(uri)
        store = open_existing_store(uri) if must_exist else open_store(uri)
        stored = store.get_meta("index_config")
        config = config or KBConfig()
        if stored is None:
            store.set_meta("index_config", config.index.model_dump_json())
        else:
            stored_index = IndexConfig.model_validate_json(stored)
            if config.index != IndexConfig() and config.index != stored_index:
                raise ValueError(
                    f"{uri} was built with index settings {stored_index.model_dump()}; "
                    "they cannot change without a new knowledge base"
                )
            config = config.model_copy(update={"index": stored_index})
        kb = cls(uri, store, config, embedder)
        if store.get_meta("dim") is None:
            store.set_meta("dim", str(kb.embedder.dim))
            store.set_meta("embedder", kb.embedder.name)
        return kb

    @property
    def ingestor(self) -> Ingestor:
        if self._ingestor is None:
            index = self.config.index
            chunker = DocumentChunker(self.embedder.token_offsets, index.chunk_tokens, index.overlap_tokens)
            cache = EmbeddingCache(self._cache_path(), self.embedder.name, int(self.store.get_meta("dim")))
            self._ingestor = Ingestor(self.store, self.embedder, chunker, cache, self.config.ingest.embed_batch)
        return self._ingestor

    def _cache_path(self) -> Path:
        local = getattr(self.store, "folder", None)
        base = Path(local) if local else Path.home() / ".cache" / "tailor"
        return base / "embedding-cache.sqlite"

    def ingest(
        self,
        paths: Sequence[str | Path],
        groups: Sequence[str] | None = None,
        sync: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Load files and folders; re-embed only new or changed documents; commit one version."""
        return self.ingestor.run(
            [Path(p) for p in paths], groups=tuple(groups) if groups else None, sync=sync, on_progress=on_progress
        )

    def ingest_documents(self, documents: Sequence[Document], on_progress: ProgressCallback | None = None) -> IngestReport:
        """Index already-loaded documents (e.g. from a dataset); unchanged ones are skipped."""
        return self.ingestor.run_documents(documents, on_progress=on_progress)

    def search(
        self,
        query: str,
        k: int = 10,
        mode: str | None = None,
        groups: Sequence[str] | None = DEFAULT_GROUPS,
        filters: dict[str, Any] | None = None,
    ) -> SearchResult:
        """Top-k chunks visible to `groups` (None: unrestricted, for administrators only)."""
        search_filter = SearchFilter(tuple(groups) if groups is not None else None, dict(filters or {}))
        return self.retriever.run(query, search_filter, k=k, mode=mode)

    def remove(self, doc_ids: Sequence[str]) -> int | None:
        """Delete documents; returns the new version, or None when none of them was stored."""
        known = self.store.document_hashes()
        present = [d for d in doc_ids if d in known]
        return self.store.commit([], present, note="remove") if present else None

    def documents(self, groups: Sequence[str] | None = DEFAULT_GROUPS) -> list[StoredDocument]:
        return self.store.list_documents(SearchFilter(tuple(groups) if groups is not None else None))

    def document(self, doc_id: str, groups: Sequence[str] | None = DEFAULT_GROUPS) -> StoredDocument | None:
        """The document if it exists and is visible to `groups`; otherwise None (no existence leak)."""
        doc = self.store.get_document(doc_id)
        if doc is None or (groups is not None and not set(doc.groups) & set(groups)):
            return None
        return doc

    def versions(self) -> list[VersionInfo]:
        return self.store.versions()

    @property
    def version(self) -> int:
        return self.store.version()

    def stats(self) -> dict[str, Any]:
        docs = self.store.list_documents(SearchFilter.unrestricted())
        groups: dict[str, int] = {}
        for doc in docs:
            for group in doc.groups:
                groups[group] = groups.get(group, 0) + 1
        return {
            "uri": self.uri,
            "version": self.version,
            "documents": len(docs),
            "chunks": self.store.count_chunks(),
            "groups": groups,
            "embedder": self.store.get_meta("embedder"),
            "dim": int(self.store.get_meta("dim") or 0),
            "index": json.loads(self.store.get_meta("index_config") or "{}"),
        }

    def close(self) -> None:
        self.store.close()
