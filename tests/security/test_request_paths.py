"""One path rule for request data (issue 25, item 3): every compare field that names a model, generator,
endpoint, template, reranker, embedder or attention kernel takes only names the server offers, and every
field naming a file or folder is the server's; a path, URL or hub id is a 422 naming the field."""

from __future__ import annotations

import typing
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel

from helpers.serve_support import Keys
from tailor.evaluate.compare import CompareConfig
from tailor.generate.prompts import shipped_templates
from tailor.generate.registry import Endpoint
from tailor.serve.errors import ApiError
from tailor.serve.request_names import NAMED_FIELDS, SERVER_SET, ServerNames, require_server_names

QUESTIONS = [{"question": "How far in advance should trips be booked?", "answers": ["14 days"]}]
NAMES = ServerNames({"team": Endpoint("http://10.0.0.5/v1", "TEAM_KEY", ("llama-3",))}, ("team-reranker",),
                    ("sentence-transformers/all-MiniLM-L6-v2",))
HOSTILE = ["reports", "/some/folder", "x.GGUF", "~/models", "../up", "Qwen/Qwen2.5-0.5B-Instruct",
           "hf:reports", "openai:http://127.0.0.1:9/v1#x", "openai:team#gpt-4", "kernels-community/flash-attn",
           "SMOLLM2-135M-INSTRUCT", "rag.jinja", "C:\\models"]


def settings_with(path: str, value: object) -> tuple[dict, str]:
    """Settings holding `value` at `path` (`arms[]`: the first arm), and the field the refusal must name."""
    settings: dict = {}
    node = settings
    *parents, last = path.split(".")
    for part in parents:
        if part.endswith("[]"):
            node[part[:-2]] = [{"name": "a0", "strategy": "rag"}]
            node = node[part[:-2]][0]
        else:
            node = node.setdefault(part, {})
    node[last] = value
    return settings, "settings." + path.replace("[]", "[0]")


def refusal(settings: dict) -> ApiError:
    with pytest.raises(ApiError) as refused:
        require_server_names(settings, NAMES)
    return refused.value


@pytest.mark.parametrize("path", sorted(NAMED_FIELDS))
@pytest.mark.parametrize("value", HOSTILE)
def test_every_named_field_refuses_what_the_server_does_not_offer(path: str, value: str):
    settings, field = settings_with(path, value)
    if NAMES.accepts(NAMED_FIELDS[path], value):
        pytest.fail(f"{path}: {value!r} accepted")
    error = refusal(settings)
    assert (error.status, error.param) == (422, field) and field in error.message


@pytest.mark.parametrize("path", sorted(SERVER_SET))
def test_every_file_or_folder_field_is_set_by_the_server(path: str):
    error = refusal(settings_with(path, "anything")[0])
    assert (error.status, error.param) == (422, settings_with(path, "x")[1])


OFFERED = {
    "model": ["smollm2-135m-instruct", "scratch", "openai:team#llama-3"],
    "generator": ["base", "extractive", "hf", "hf:smollm2-135m-instruct", "openai:team#llama-3"],
    "judge": ["hf", "openai:team#llama-3"],
    "template": shipped_templates(),
    "reranker": ["team-reranker"],
    "embedder": ["sentence-transformers/all-MiniLM-L6-v2"],
    "attention": ["sdpa", "eager"],
}


@pytest.mark.parametrize("path", sorted(NAMED_FIELDS))
def test_the_names_the_server_offers_are_accepted(path: str):
    for value in OFFERED[NAMED_FIELDS[path]]:
        require_server_names(settings_with(path, value)[0], NAMES)


def _path_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Fields of a config that hold a file system path, as dotted names."""
    found = []
    for name, info in model.model_fields.items():
        types = typing.get_args(info.annotation) or (info.annotation,)
        if Path in types:
            found.append(prefix + name)
        for sub in types:
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                found += _path_fields(sub, f"{prefix}{name}.")
    return found


def test_every_path_field_of_the_compare_config_is_the_servers():
    """A path field added to CompareConfig later must join SERVER_SET (or this fails)."""
    fields = _path_fields(CompareConfig)
    assert "home" in fields  # the walk finds them
    assert [f for f in fields if not any(f == s or f.startswith(f"{s}.") for s in SERVER_SET)] == []


def test_the_live_server_refuses_each_field_before_any_work(server: str, served, keys: Keys):
    admin = Keys.header(keys.admin)
    reports = served[1].serve.reports
    cases = [("retrieval.reranker", "/some/folder"), ("base_model", "reports"), ("base_model", "x.GGUF"),
             ("arms[].template", "/etc/passwd.jinja"), ("judge", "hf:/etc"), ("kb_index.embedder.model", "/tmp"),
             ("training.finetune.attn_implementation", "kernels-community/flash-attn"), ("probes.general_text", "/"),
             ("report_groups", ["public"])]
    with httpx.Client(base_url=server, timeout=60) as client:
        for path, value in cases:
            settings, field = settings_with(path, value)
            response = client.post("/v1/compare", headers=admin, json={"questions": QUESTIONS, "settings": settings})
            assert response.status_code == 422, (path, response.text)
            assert response.json()["error"]["param"] == field
    assert not reports.exists() or not list(reports.iterdir())
