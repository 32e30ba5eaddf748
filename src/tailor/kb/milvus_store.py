"""A knowledge base on Milvus (a server, a cluster, or Milvus Lite) through pymilvus.

Two collections (schemas in milvus_schema): `<prefix>chunks`, one row per chunk and version with its
vector, BM25 terms (Milvus's BM25 function makes the sparse vector), groups and metadata; and
`<prefix>manifest`: documents (a header and text parts), group sets, the version log, settings, and
the head row whose `born` is the last committed version.

Milvus has no transactions, so a version is a lifetime: a row is visible at version C when
`born <= C < died`, and every search and read filters on the head's C. A commit writes its rows with
born = C+1 and marks the rows it replaces or deletes with died = C+1 (all invisible at C), appends its
version-log row, and only then moves the head: one single-row upsert, the commit point. A crash
before it leaves C intact. The next commit first removes what a crashed one wrote (born > C),
revives what it marked (C < died < ALIVE), and purges rows retired by committed versions (died <= C).
One writer at a time: concurrent commits to one knowledge base are not supported.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import numpy as np
from pymilvus import MilvusClient

from tailor.kb.local_index import bm25_tokenize
from tailor.kb.milvus_schema import (
    ACL_FILTERS,
    ALIVE,
    AT_LEAST_K,
    MAX_TOP_K,
    MilvusSettings,
    chunk_indexes,
    chunk_rows,
    chunk_schema,
    document_rows,
    group_key,
    in_list,
    literal,
    live_at,
    manifest_indexes,
    manifest_row,
    manifest_schema,
    row_key,
)
from tailor.kb.store import ChunkMatch, DocumentWrite, SearchFilter, StoredDocument, VersionInfo
from tailor.records import Chunk

BATCH = 256  # rows per upsert call and ids per `in` filter
_CHUNK_FIELDS = ["chunk_id", "doc_id", "text", "start", "end", "page", "heading_path"]
_LITE_OPEN: Counter[str] = Counter()  # open stores per Milvus Lite folder: the last close stops its server
# Milvus Lite has no MVCC timestamps for iterators; pymilvus warns on every scan and falls back, correctly.
logging.getLogger("pymilvus.client.iterator.query_iterator").setLevel(logging.ERROR)


class MilvusStore:
    """The `Store` protocol on Milvus; `uri` is `milvus://host:port[/db][?options]` or a Lite `.db` path."""

    def __init__(self, uri: str):
        self.uri = uri
        self.settings = settings = MilvusSettings.from_uri(uri)
        self.client = MilvusClient(settings.connect_uri, token=settings.token, db_name=settings.db_name)
        self._lite_path = os.path.abspath(settings.connect_uri) if settings.lite else None
        if self._lite_path:
            _LITE_OPEN[self._lite_path] += 1
        self.folder = Path(self._lite_path).parent if self._lite_path else None  # embedding cache goes here
        self._chunks, self._manifest = f"{settings.prefix}chunks", f"{settings.prefix}manifest"
        self._read = {"consistency_level": settings.consistency}
        self._lock = threading.RLock()
        self._group_sets: tuple[int, list[str]] = (-1, [])
        self._keys: dict[str, str] = {}  # chunk id -> row key, from recent searches: get_chunks reads by key
        if not self.client.has_collection(self._manifest):
            self._create(self._manifest, manifest_schema(), manifest_indexes(self.client))
        for name in self._collections():
            self.client.load_collection(name)  # Milvus Lite reopens collections released

    # -- versions and settings --------------------------------------------------------------
    def version(self) -> int:
        rows = self._get(self._manifest, ["head"], ["born"])
        return int(rows[0]["born"]) if rows else 0

    def versions(self) -> list[VersionInfo]:
        rows = self._scan(self._manifest, f'kind == "version" and born <= {self.version()}', ["body"])
        return sorted((VersionInfo(**json.loads(r["body"])) for r in rows), key=lambda v: v.version)

    def get_meta(self, key: str) -> str | None:
        rows = self._get(self._manifest, ["meta:" + quote(key, safe="")], ["body"])
        return rows[0]["body"] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self._upsert(self._manifest, [manifest_row("meta:" + quote(key, safe=""), "meta", value)])

    # -- documents ------------------------------------------------------------------------------
    def document_hashes(self) -> dict[str, str]:
        return {doc_id: header["hash"] for doc_id, header in self._headers(self.version()).items()}

    def get_document(self, doc_id: str) -> StoredDocument | None:
        found = self._documents(self.version(), f"doc_id == {literal(doc_id)}")
        return found[0] if found else None

    def list_documents(self, search_filter: SearchFilter) -> list[StoredDocument]:
        return [d for d in self._documents(self.version()) if _visible(d, search_filter)]

    def _headers(self, version: int, where: str = "") -> dict[str, dict[str, Any]]:
        expr = f'kind == "doc" and {live_at(version)}' + (f" and {where}" if where else "")
        return {r["doc_id"]: {**json.loads(r["body"]), "born": r["born"]}
                for r in self._scan(self._manifest, expr, ["doc_id", "born", "body"])}

    def _documents(self, version: int, where: str = "") -> list[StoredDocument]:
        expr = f'kind in ["doc", "text"] and {live_at(version)}' + (f" and {where}" if where else "")
        headers, parts = {}, defaultdict(dict)
        for row in self._scan(self._manifest, expr, ["doc_id", "kind", "part", "born", "body"]):
            if row["kind"] == "doc":
                headers[row["doc_id"]] = {**json.loads(row["body"]), "born": row["born"]}
            else:
                parts[row["doc_id"]][row["part"]] = row["body"]
        text = {d: "".join(p[i] for i in sorted(p)) for d, p in parts.items()}
        return [_document(d, headers[d], text.get(d, "")) for d in sorted(headers)]

    # -- writes -----------------------------------------------------------------------------------
    def commit(
        self, writes: list[DocumentWrite], deletes: list[str], note: str = "",
        publish: Callable[[], AbstractContextManager[object]] = nullcontext,
    ) -> int:
        """Apply all writes and deletes as one new version; readers see it whole or not at all."""
        writes = list({w.document.id: w for w in writes}.values())  # a document written twice: the last wins
        dim = int(self.get_meta("dim") or 0) or (writes[0].vectors.shape[1] if writes else 0)
        for write in writes:
            _check(write, dim)
        with self._lock:
            base = self.version()
            self._tidy(base)
            version = base + 1
            try:
                headers = self._headers(base)
                removed = [d for d in dict.fromkeys(deletes) if d in headers]
                updated = [w.document.id for w in writes if w.document.id in headers]
                retiring = set(removed) | set(updated)
                if writes and not self.client.has_collection(self._chunks):
                    self._create_chunks(dim)
                self._register_group_sets(writes, base, version)
                tenant = self.settings.tenant_key
                self._upsert(self._chunks, (row for w in writes for row in chunk_rows(w, version, tenant)))
                self._upsert(self._manifest, (row for w in writes for row in document_rows(w, version)))
                self._retire(sorted(retiring), base, version)
                chunks = self.count_chunks() - sum(headers[d]["n_chunks"] for d in retiring)
                info = VersionInfo(version, time.time(), len(writes) - len(updated), len(updated), len(removed),
                                   chunks + sum(len(w.chunks) for w in writes), note)
                self._upsert(self._manifest, [manifest_row(f"version:{version}", "version",
                                                            json.dumps(info.__dict__), born=version)])
                with publish():
                    self._upsert(self._manifest, [manifest_row("head", "head", "", born=version)])  # commit point
            except BaseException:
                with contextlib.suppress(Exception):
                    self._tidy(base)
                raise
            for name in self._collections() if self.settings.flush else ():
                self.client.flush(name)
        return version

    def _create(self, name: str, schema: Any, indexes: Any, **options: Any) -> None:
        self.client.create_collection(name, schema=schema, consistency_level=self.settings.consistency, **options)
        # The collection is empty: its indexes exist at once (`sync=True` would poll for 0.5 s per index).
        self.client.create_index(name, indexes, sync=False)
        self.client.load_collection(name)

    def _create_chunks(self, dim: int) -> None:
        settings = self.settings
        options = {"num_partitions": settings.num_partitions} if settings.partition_key else {}
        options |= {"num_shards": settings.shards} if settings.shards else {}
        self._create(self._chunks, chunk_schema(dim, settings), chunk_indexes(self.client, settings), **options)

    def _register_group_sets(self, writes: list[DocumentWrite], base: int, version: int) -> None:
        """Record group sets first seen in this commit; a known one keeps its `born`, so stays visible."""
        new = {group_key(w.document.groups) for w in writes} - set(self._group_set_keys(base))
        rows = [manifest_row("groupset:" + hashlib.sha256(k.encode()).hexdigest(), "groupset", k, born=version)
                for k in sorted(new)]
        self._upsert(self._manifest, rows)

    def _group_set_keys(self, version: int) -> list[str]:
        if self._group_sets[0] != version:
            rows = self._scan(self._manifest, f'kind == "groupset" and born <= {version}', ["body"])
            self._group_sets = (version, [r["body"] for r in rows])
        return self._group_sets[1]

    def _retire(self, doc_ids: list[str], base: int, version: int) -> None:
        """Mark every row of these documents visible at `base` as retired by `version`."""
        for start in range(0, len(doc_ids), BATCH):
            expr = f"{in_list('doc_id', doc_ids[start : start + BATCH])} and {live_at(base)}"
            for name in self._collections():
                keys = [r["key"] for r in self._scan(name, expr, ["key"])]
                self._upsert(name, [{"key": k, "died": version} for k in keys], partial=True)

    def _tidy(self, base: int) -> None:
        """Undo a crashed commit and purge rows retired by committed versions; readers see no change."""
        for name in self._collections():
            self.client.delete(name, filter=f"born > {base}")
            self.client.delete(name, filter=f"died <= {base}")
            keys = [r["key"] for r in self._scan(name, f"died > {base} and died < {ALIVE}", ["key"])]
            self._upsert(name, [{"key": k, "died": ALIVE} for k in keys], partial=True)
        self._group_sets = (-1, [])

    # -- search -----------------------------------------------------------------------------------
    def dense_search(self, vector: np.ndarray, k: int, search_filter: SearchFilter) -> list[ChunkMatch]:
        query = np.asarray(vector, dtype=np.float32).tolist()
        return self._search("vector", query, k, search_filter, {"metric_type": "IP"})

    def text_search(self, query: str, k: int, search_filter: SearchFilter) -> list[ChunkMatch]:
        terms = " ".join(bm25_tokenize([query])[0])
        return self._search("sparse", terms, k, search_filter, {"metric_type": "BM25"}) if terms else []

    def _search(self, field: str, query: Any, k: int, search_filter: SearchFilter, params: dict) -> list[ChunkMatch]:
        expr = self._filter(search_filter, self.version())
        if expr is None or not self.client.has_collection(self._chunks):
            return []
        k = min(k, MAX_TOP_K)
        tuning = {n: max(v, k) if n in AT_LEAST_K else v for n, v in self.settings.search_params.items()}
        search_params = {**params, "params": tuning if field == "vector" else {}}
        (hits,) = self.client.search(self._chunks, data=[query], anns_field=field, limit=k,
                                     filter=expr, output_fields=["key"], search_params=search_params, **self._read)
        if len(self._keys) > 100_000:
            self._keys.clear()
        self._keys.update((_chunk_id(h["key"]), h["key"]) for h in hits)
        # Milvus Lite reports BM25 as a negated distance, a server as a positive score: keep the magnitude.
        scores = [(h["key"], abs(h["distance"]) if field == "sparse" else h["distance"]) for h in hits]
        return [ChunkMatch(_chunk_id(key), float(s)) for key, s in scores if field != "sparse" or s > 0]

    def _filter(self, search_filter: SearchFilter, version: int) -> str | None:
        """The search expression: live rows, the caller's groups, metadata; None when nothing is visible."""
        parts = [live_at(version)]
        if search_filter.groups is not None:
            acl = ACL_FILTERS[self.settings.acl](search_filter.groups, lambda: self._group_set_keys(version))
            if acl is None:
                return None
            parts.append(acl)
        parts += [f"metadata[{literal(key)}] == {literal(v)}" for key, v in search_filter.metadata.items()]
        tenant = self.settings.tenant_key
        if tenant is not None and tenant in search_filter.metadata:  # lets Milvus prune partitions
            parts.append(f"tenant == {literal(str(search_filter.metadata[tenant]))}")
        return " and ".join(parts)

    def get_chunks(self, chunk_ids: list[str]) -> dict[str, tuple[Chunk, StoredDocument]]:
        """Chunks live now, by the row keys recent searches returned (a primary-key read), else by chunk id."""
        if not chunk_ids or not self.client.has_collection(self._chunks):
            return {}
        version, fields = self.version(), [*_CHUNK_FIELDS, "born", "died"]
        keys = [self._keys[c] for c in chunk_ids if c in self._keys]
        rows = [r for r in self._get(self._chunks, keys, fields) if r["born"] <= version < r["died"]]
        missing = sorted(set(chunk_ids) - {r["chunk_id"] for r in rows})
        for start in range(0, len(missing), BATCH):
            expr = f"{in_list('chunk_id', missing[start : start + BATCH])} and {live_at(version)}"
            rows += self._query(self._chunks, expr, fields)
        # A document's header and its chunks are written and retired together: same `born`.
        doc_keys = sorted({"doc:" + row_key(r["doc_id"], r["born"]) for r in rows})
        headers = {h["doc_id"]: {**json.loads(h["body"]), "born": h["born"]}
                   for h in self._get(self._manifest, doc_keys, ["doc_id", "born", "body"])}
        return {r["chunk_id"]: (_chunk(r), _document(r["doc_id"], headers[r["doc_id"]], "")) for r in rows}

    def count_chunks(self) -> int:
        rows = self._get(self._manifest, [f"version:{self.version()}"], ["body"])
        return int(json.loads(rows[0]["body"])["chunks"]) if rows else 0

    def export_writes(self, batch: int = 64) -> Iterator[DocumentWrite]:
        """Every document of the current version with its chunks, indexed texts and stored vectors."""
        version = self.version()
        documents = self._documents(version)
        for start in range(0, len(documents), batch):
            group = documents[start : start + batch]
            expr = f"{in_list('doc_id', [d.id for d in group])} and {live_at(version)}"
            rows: dict[str, list[dict]] = defaultdict(list)
            for row in self._scan(self._chunks, expr, [*_CHUNK_FIELDS, "index_text", "vector"]):
                rows[row["doc_id"]].append(row)
            for doc in group:
                ordered = sorted(rows[doc.id], key=lambda r: (r["start"], r["end"], r["chunk_id"]))
                vectors = np.array([r["vector"] for r in ordered], dtype=np.float32)
                yield DocumentWrite(doc, [_chunk(r) for r in ordered], [r["index_text"] for r in ordered], vectors)

    def close(self) -> None:
        self.client.close()
        if self._lite_path:
            _LITE_OPEN[self._lite_path] -= 1
            if _LITE_OPEN[self._lite_path] <= 0:  # frees the folder's lock for other processes
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_server(self._lite_path)

    # -- plumbing -----------------------------------------------------------------------------------
    def _collections(self) -> list[str]:
        return [n for n in (self._chunks, self._manifest) if self.client.has_collection(n)]

    def _query(self, name: str, expr: str, fields: list[str]) -> list[dict]:
        return self.client.query(name, filter=expr, output_fields=fields, **self._read)

    def _get(self, name: str, keys: list[str], fields: list[str]) -> list[dict]:
        """Rows by primary key: the fast path of every Milvus (a bare `key in [...]`; Lite skips its scan)."""
        return [r for start in range(0, len(keys), BATCH)
                for r in self._query(name, in_list("key", keys[start : start + BATCH]), fields)]

    def _scan(self, name: str, expr: str, fields: list[str]) -> Iterator[dict]:
        """All matching rows, paged (a plain query stops at 16,384)."""
        iterator = self.client.query_iterator(name, batch_size=4096, filter=expr, output_fields=fields)
        try:
            while batch := iterator.next():
                yield from batch
        finally:
            iterator.close()

    def _upsert(self, name: str, rows: Iterable[dict], partial: bool = False) -> None:
        rows = iter(rows)
        while batch := list(islice(rows, BATCH)):
            self.client.upsert(name, batch, partial_update=partial)


def _check(write: DocumentWrite, dim: int) -> None:
    vectors = np.asarray(write.vectors)
    if not (len(write.chunks) == len(write.index_texts) == len(vectors)) or (len(vectors) and vectors.shape[1:] != (dim,)):
        raise ValueError(f"{write.document.id}: {len(write.chunks)} chunks, {len(write.index_texts)} texts and "
                         f"vectors of shape {vectors.shape} do not match (dim {dim})")


def _chunk_id(key: str) -> str:
    return unquote(key.split(":", 1)[1])


def _chunk(row: dict) -> Chunk:
    return Chunk(row["chunk_id"], row["doc_id"], row["text"], row["start"], row["end"], row["page"],
                 tuple(row["heading_path"]))


def _document(doc_id: str, header: dict[str, Any], text: str) -> StoredDocument:
    return StoredDocument(doc_id, header["title"], header["source"], header["hash"], tuple(header["groups"]),
                          header["metadata"], text, header["born"], header["n_chunks"])


def _visible(doc: StoredDocument, search_filter: SearchFilter) -> bool:
    if search_filter.groups is not None and not set(doc.groups) & set(search_filter.groups):
        return False
    return all(doc.metadata.get(k) == v for k, v in search_filter.metadata.items())

