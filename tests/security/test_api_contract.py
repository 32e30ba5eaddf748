"""The API contract an attacker probes first: a valid OpenAPI document with no dangling reference, strict
request types, and every 4xx in the one JSON error envelope naming the field."""

from __future__ import annotations

import json

import httpx
import pytest
from openapi_spec_validator import validate

from helpers.serve_support import Keys

H = Keys.header


def references(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in references(value)]
    return []


def resolve(document: dict, ref: str) -> object:
    assert ref.startswith("#/"), ref
    node: object = document
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, f"dangling $ref {ref}"
        node = node[part]
    return node


def test_the_openapi_document_validates_and_every_reference_resolves(server):
    document = httpx.get(f"{server}/openapi.json").json()
    validate(document)  # raises OpenAPIValidationError naming the path of the first problem
    refs = references(document)
    assert refs and "#/components/schemas/TextUpload" in refs
    for ref in refs:
        resolve(document, ref)
    upload = document["paths"]["/v1/documents"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(upload)


ASK = "/v1/ask"
CHAT = "/v1/chat/completions"
USER = [{"role": "user", "content": "How much does the S200 loom cost?"}]

ENVELOPE_CASES = [
    # strict types: no string->int, bool->int or string->bool coercion; no empty names
    (ASK, {"json": {"question": "hi", "top_k": "5"}}, 422, "top_k"),
    (ASK, {"json": {"question": "hi", "top_k": True}}, 422, "top_k"),
    (ASK, {"json": {"question": "hi", "top_k": 2.0}}, 422, "top_k"),
    (ASK, {"json": {"question": "hi", "stream": "yes"}}, 422, "stream"),
    (ASK, {"json": {"question": "hi", "stream": 1}}, 422, "stream"),
    (ASK, {"json": {"question": "hi", "strategy": ""}}, 422, "strategy"),
    (ASK, {"json": {"question": ["hi"]}}, 422, "question"),
    (CHAT, {"json": {"model": "rag", "messages": USER, "stream": "yes"}}, 422, "stream"),
    (CHAT, {"json": {"model": "rag", "messages": USER, "max_tokens": "16"}}, 422, "max_tokens"),
    (CHAT, {"json": {"model": "", "messages": USER}}, 422, "model"),
    # bodies the parsers refuse
    (ASK, {"content": b'{"question": "\xff\xfe"}', "headers": {"content-type": "application/json"}}, 400, "body"),
    (ASK, {"content": b"{", "headers": {"content-type": "application/json"}}, 422, "body"),
    (ASK, {"content": json.dumps({"question": "x" * (2 << 20)}).encode(),
           "headers": {"content-type": "application/json"}}, 413, "body"),
]


@pytest.mark.parametrize("path, options, status, field", ENVELOPE_CASES,
                         ids=[f"{p}-{f}-{s}-{i}" for i, (p, _, s, f) in enumerate(ENVELOPE_CASES)])
def test_every_refusal_is_the_json_envelope_naming_the_field(server, keys, path, options, status, field):
    headers = {**H(keys.public), **options.pop("headers", {})}
    response = httpx.post(f"{server}{path}", headers=headers, timeout=60, **options)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == status and error["type"] and error["message"]
    assert error["param"] is not None and error["param"].split(".")[-1].split("[")[0] == field, error


def test_upload_refusals_are_the_envelope_too(server, keys):
    too_many = [("files", (f"f{i}.md", b"x", "text/markdown")) for i in range(101)]
    response = httpx.post(f"{server}/v1/documents", headers=H(keys.admin), files=too_many, timeout=60)
    assert response.status_code in (413, 422), response.text
    assert response.json()["error"]["param"] in ("files", "body")
    body = [("files", (f"part{i}.md", b"x" * (15 * 1024), "text/markdown")) for i in range(6)]
    response = httpx.post(f"{server}/v1/documents", headers=H(keys.admin), files=body, timeout=60)
    assert response.status_code == 413 and response.json()["error"]["param"] == "body"
    bad_utf8 = [("files", ("a.md", b"x", "text/markdown"))]
    response = httpx.post(f"{server}/v1/documents", headers=H(keys.admin), files=bad_utf8,
                          data={"groups": b"\xff\xfe".decode("latin-1")}, timeout=60)
    assert 400 <= response.status_code < 500 and response.json()["error"]["param"] == "groups", response.text
