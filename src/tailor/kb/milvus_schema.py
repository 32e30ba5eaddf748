"""Settings, schemas and filter expressions of the Milvus store (docs/deploy-milvus.md explains the choices).

A knowledge base on Milvus is named by a URI; its query string carries the settings:

    milvus://host:19530/my_db?prefix=hr_&index=HNSW&M=32&ef=128&consistency=Bounded&partition_key=groups
    kb.db?index=FLAT                       (Milvus Lite: the .db path is its data folder)

`token` (else $MILVUS_TOKEN, else `user:password@` in the URI) authenticates, `tls=true` connects over
TLS. Index and search parameters not given keep the defaults in INDEX_PRESETS.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import numpy as np
from pymilvus import CollectionSchema, DataType, Function, FunctionType, MilvusClient

from tailor.kb.local_index import bm25_tokenize
from tailor.kb.store import DocumentWrite

ALIVE = 2**62  # `died` of a row no commit has retired
MAX_TOP_K = 16_384  # Milvus's limit on one search's k
MAX_VARCHAR = 65_535  # bytes
TEXT_PART = 16_000  # characters of document text per manifest row: at most 64,000 bytes of UTF-8

# index type -> (build parameters, search parameters); every value can be overridden in the URI.
INDEX_PRESETS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # ef 256: recall@10 0.975 at 20k hard synthetic vectors (0.93 at ef 128); raised to k when k is larger.
    "HNSW": ({"M": 16, "efConstruction": 200}, {"ef": 256}),
    "IVF_FLAT": ({"nlist": 1024}, {"nprobe": 32}),  # nlist about 4*sqrt(n); nprobe: recall vs speed
    "IVF_SQ8": ({"nlist": 1024}, {"nprobe": 32}),  # vectors as int8: 4x less memory, ~1% recall lost
    "DISKANN": ({}, {"search_list": 100}),  # graph and vectors on NVMe, PQ codes in memory (server only)
    "FLAT": ({}, {}),  # exact; fine below ~1M vectors per segment set
    "AUTOINDEX": ({}, {}),  # let the server (or Zilliz Cloud) choose
}
AT_LEAST_K = ("ef", "search_list")  # search parameters Milvus requires to be >= k
CONSISTENCY_LEVELS = ("Strong", "Bounded", "Session", "Eventually")


@dataclass(frozen=True)
class MilvusSettings:
    """Where the knowledge base lives and how it is indexed; parsed from its URI."""

    connect_uri: str  # what MilvusClient is given: http(s)://host:port, or the Lite .db path
    lite: bool = False
    token: str = ""
    db_name: str = ""
    prefix: str = "tailor_"  # collections are <prefix>chunks and <prefix>manifest
    index_type: str = "HNSW"
    index_params: dict[str, Any] = field(default_factory=dict)
    search_params: dict[str, Any] = field(default_factory=dict)
    consistency: str = "Strong"  # Bounded is faster on a cluster; a commit may then show up to ~1 s late
    acl: str = "array"  # "array": array_contains_any(groups, ...); "groupset": group_key in [...]
    partition_key: str = ""  # "" (none), "groups" (the document's group set) or a metadata key (tenant)
    num_partitions: int = 16
    shards: int = 0  # DML channels, fixed at creation: 0 keeps the server's default (1)
    # Seal each commit into an indexed segment. Milvus Lite otherwise scans its write buffer in Python
    # at every search (1 s per BM25 query at 5k rows, 18 ms flushed), with BM25 statistics taken over
    # the caller's filtered rows only. A server seals segments itself; flushing each commit would
    # only make small segments.
    flush: bool = False

    @classmethod
    def from_uri(cls, uri: str) -> MilvusSettings:
        location, _, query = uri.partition("?")
        options = dict(parse_qsl(query))
        lite = not location.startswith("milvus://")
        if lite:
            connect, token, db_name = location.removeprefix("milvus-lite://"), "", ""
        else:
            parts = urlsplit(location)
            scheme = "https" if options.pop("tls", "false").lower() in ("1", "true", "yes") else "http"
            connect = f"{scheme}://{parts.hostname}:{parts.port or 19530}"
            userinfo = f"{unquote(parts.username)}:{unquote(parts.password or '')}" if parts.username else ""
            token = options.pop("token", "") or os.environ.get("MILVUS_TOKEN", "") or userinfo
            db_name = parts.path.strip("/")
        index_type = options.pop("index", "HNSW").upper()
        if index_type not in INDEX_PRESETS:
            raise ValueError(f"unknown Milvus index {index_type!r}; choose from {sorted(INDEX_PRESETS)}")
        build, search = (dict(p) for p in INDEX_PRESETS[index_type])
        partition_key = options.pop("partition_key", "")
        settings: dict[str, Any] = {
            "prefix": options.pop("prefix", "tailor_"),
            "consistency": options.pop("consistency", "Strong").capitalize(),
            # Group sets as a VARCHAR `in` filter are exact too, and prune partitions when they are the
            # partition key; Milvus Lite evaluates array functions row by row in Python (200 ms at 5k rows).
            "acl": options.pop("acl", "groupset" if lite or partition_key == "groups" else "array"),
            "partition_key": partition_key,
            "num_partitions": int(options.pop("partitions", 16)),
            "shards": int(options.pop("shards", 0)),
            "flush": options.pop("flush", str(lite)).lower() in ("1", "true", "yes"),
        }
        for name, value in options.items():
            target = build if name in build else search if name in search else None
            if target is None:
                raise ValueError(f"unknown Milvus option {name!r} for index {index_type}")
            target[name] = int(value) if value.isdigit() else value
        if settings["consistency"] not in CONSISTENCY_LEVELS or settings["acl"] not in ACL_FILTERS:
            raise ValueError(f"consistency must be one of {CONSISTENCY_LEVELS} and acl one of {sorted(ACL_FILTERS)}")
        return cls(connect, lite, token, db_name, index_type=index_type, index_params=build, search_params=search,
                   **settings)

    @property
    def tenant_key(self) -> str | None:
        """The metadata key whose value partitions the chunks, when partitioning by tenant."""
        return self.partition_key if self.partition_key not in ("", "groups") else None


def chunk_schema(dim: int, settings: MilvusSettings) -> CollectionSchema:
    """One row per (chunk, version that wrote it): versions coexist until a commit retires the old one."""
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=2048)  # "<chunk id>@<born>"
    schema.add_field("chunk_id", DataType.VARCHAR, max_length=2048)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=2048)
    schema.add_field("born", DataType.INT64)  # the version that wrote the row
    schema.add_field("died", DataType.INT64)  # the version that retired it, ALIVE until then
    schema.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR)
    schema.add_field("index_text", DataType.VARCHAR, max_length=MAX_VARCHAR)  # kept for `kb copy`
    # Our stemmed tokens (the same analysis as the embedded store's bm25s), split by Milvus's standard
    # tokenizer: both backends rank BM25 on identical terms; Milvus Lite has no stemming analyzer.
    schema.add_field("terms", DataType.VARCHAR, max_length=MAX_VARCHAR, enable_analyzer=True,
                     analyzer_params={"tokenizer": "standard"})
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("groups", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=256, max_length=256)
    schema.add_field("group_key", DataType.VARCHAR, max_length=MAX_VARCHAR,
                     is_partition_key=settings.partition_key == "groups")
    schema.add_field("tenant", DataType.VARCHAR, max_length=512, is_partition_key=settings.tenant_key is not None)
    schema.add_field("metadata", DataType.JSON)
    schema.add_field("start", DataType.INT64)
    schema.add_field("end", DataType.INT64)
    schema.add_field("page", DataType.INT64, nullable=True)
    schema.add_field("heading_path", DataType.JSON)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                 input_field_names=["terms"], output_field_names=["sparse"]))
    return schema


def manifest_schema() -> CollectionSchema:
    """Documents, text parts, group sets, the version log, settings and the head (committed version)."""
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=2048)
    schema.add_field("kind", DataType.VARCHAR, max_length=16)  # doc | text | groupset | version | meta | head
    schema.add_field("doc_id", DataType.VARCHAR, max_length=2048)
    schema.add_field("born", DataType.INT64)
    schema.add_field("died", DataType.INT64)
    schema.add_field("part", DataType.INT64)
    schema.add_field("body", DataType.VARCHAR, max_length=MAX_VARCHAR)
    schema.add_field("stub", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector field in every collection
    return schema


def chunk_indexes(client: MilvusClient, settings: MilvusSettings) -> Any:
    params = client.prepare_index_params()
    params.add_index("vector", index_type=settings.index_type, metric_type="IP", params=settings.index_params)
    # k1 and b as in bm25s: the two backends give the same BM25 ranking on the same terms.
    params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                     params={"bm25_k1": 1.5, "bm25_b": 0.75})
    for name in ("chunk_id", "doc_id", "born", "died", "group_key"):
        params.add_index(name, index_type="INVERTED")
    if not settings.lite:  # Milvus Lite indexes scalars only
        params.add_index("groups", index_type="INVERTED")
    return params


def manifest_indexes(client: MilvusClient) -> Any:
    params = client.prepare_index_params()
    params.add_index("stub", index_type="FLAT", metric_type="L2")
    for name in ("kind", "doc_id", "born", "died"):
        params.add_index(name, index_type="INVERTED")
    return params


# -- rows ----------------------------------------------------------------------------------------
def chunk_rows(write: DocumentWrite, version: int, tenant_key: str | None) -> Iterator[dict]:
    doc = write.document
    terms = [" ".join(tokens) for tokens in bm25_tokenize(write.index_texts)]
    groups, tenant = list(doc.groups), str(doc.metadata.get(tenant_key, "")) if tenant_key else ""
    vectors = np.asarray(write.vectors, dtype=np.float32)
    for chunk, index_text, chunk_terms, vector in zip(write.chunks, write.index_texts, terms, vectors, strict=True):
        yield {
            "key": row_key(chunk.id, version), "chunk_id": chunk.id, "doc_id": doc.id,
            "born": version, "died": ALIVE, "text": chunk.text, "index_text": index_text, "terms": chunk_terms,
            "vector": vector.tolist(), "groups": groups, "group_key": group_key(groups), "tenant": tenant,
            "metadata": doc.metadata, "start": chunk.start, "end": chunk.end, "page": chunk.page,
            "heading_path": list(chunk.heading_path),
        }


def row_key(doc_or_chunk_id: str, born: int) -> str:
    """Primary keys hold no quote or backslash: pymilvus's query iterator pages with an unescaped `key > "..."`."""
    return f"{born}:{quote(doc_or_chunk_id, safe='')}"


def document_rows(write: DocumentWrite, version: int) -> list[dict]:
    """The header row (key `doc:<born>:<id>`, readable from any chunk row's doc_id and born) and text parts."""
    doc = write.document
    header = {"title": doc.title, "source": doc.source, "hash": doc.hash, "groups": list(doc.groups),
              "metadata": doc.metadata, "n_chunks": len(write.chunks)}
    key = row_key(doc.id, version)
    rows = [manifest_row(f"doc:{key}", "doc", json.dumps(header, default=str), doc.id, version)]
    for part, start in enumerate(range(0, len(doc.text), TEXT_PART)):
        rows.append(manifest_row(f"text:{key}#{part}", "text", doc.text[start : start + TEXT_PART], doc.id,
                                  version, part))
    return rows


def manifest_row(key: str, kind: str, body: str, doc_id: str = "", born: int = 0, part: int = 0) -> dict:
    return {"key": key, "kind": kind, "doc_id": doc_id, "born": born, "died": ALIVE, "part": part,
            "body": body, "stub": [0.0, 0.0]}


# -- filter expressions ----------------------------------------------------------------------
def literal(value: Any) -> str:
    """A value as a Milvus expression literal: strings escaped (no \\u escapes: Milvus Lite rejects them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str) and value.isprintable():
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise ValueError(f"cannot filter on {value!r}: use printable strings, numbers or booleans")


def in_list(field_name: str, values: Sequence[Any]) -> str:
    return f"{field_name} in [{', '.join(literal(v) for v in values)}]"


def live_at(version: int) -> str:
    """Rows visible at `version`: written by it or before, not retired by it or before."""
    return f"born <= {version} and died > {version}"


def group_key(groups: Sequence[str]) -> str:
    """One string per set of groups; JSON so that no two different sets share a key."""
    return json.dumps(sorted(set(groups)), ensure_ascii=False, separators=(",", ":"))


def _array_filter(groups: tuple[str, ...], group_sets: Callable[[], list[str]]) -> str | None:
    return f"array_contains_any(groups, [{', '.join(literal(g) for g in groups)}])" if groups else None


def _groupset_filter(groups: tuple[str, ...], group_sets: Callable[[], list[str]]) -> str | None:
    """Every group set in the knowledge base that shares a group with the caller (exact: see group_key)."""
    wanted = set(groups)
    allowed = [key for key in group_sets() if wanted & set(json.loads(key))]
    return in_list("group_key", allowed) if allowed else None


# How a caller's groups become part of the search expression (given the group sets present, computed
# only when needed); None: the caller can see nothing.
ACL_FILTERS = {"array": _array_filter, "groupset": _groupset_filter}
