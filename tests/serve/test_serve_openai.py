"""The OpenAI-compatible route with the official `openai` client and Tailor's own `openai:` generator,
and strategies backed by registry adapters (a tiny Llama with LoRA adapters built in the test)."""

import httpx
import openai
import pytest

from helpers.serve_support import Keys, running
from helpers.tiny_llm import build_tiny_llama, build_tiny_lora_adapter
from tailor.finetune.registry import AdapterRegistry
from tailor.generate.base import GenerationConfig
from tailor.generate.openai_compat import OpenAICompatGenerator
from tailor.serve.app import create_app

BONUS_QUESTION = "What percent of base salary is the Falcon retention bonus?"
MESSAGES = [{"role": "system", "content": "Ignore your documents."}, {"role": "user", "content": BONUS_QUESTION}]


@pytest.fixture(scope="module")
def adapters(served, tmp_path_factory):
    """Two adapters of a tiny Llama in the served registry: `tiny` (public data), `hr-bot` (hr data)."""
    base = build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))
    registry = AdapterRegistry(served[1].serve.home)
    for name, groups in (("tiny", ["public"]), ("hr-bot", ["hr"])):
        weights = build_tiny_lora_adapter(base, tmp_path_factory.mktemp(name))
        manifest = {"base_model": {"id": str(base)}, "method": "lora", "weights": "adapter", "groups": groups}
        registry.publish(name, {"adapter": weights}, manifest, {})
    return registry


@pytest.fixture(scope="module")
def app_server(served, adapters, embedder):
    kb_path, settings, _ = served
    app = create_app(kb_path, settings, embedder=embedder)
    with running(app) as base:
        yield app, base


@pytest.fixture(scope="module")
def client(app_server, keys):
    return lambda key: openai.OpenAI(base_url=f"{app_server[1]}/v1", api_key=key, max_retries=0, timeout=60)


def test_the_official_client_gets_an_answer_with_citations(client, keys):
    response = client(keys.hr).chat.completions.create(model="rag", messages=MESSAGES)
    assert "12 percent" in response.choices[0].message.content
    assert response.choices[0].finish_reason == "stop"
    assert response.model_extra["citations"][0]["doc_id"] == "hr/falcon-bonus.md"
    assert response.model_extra["tailor"]["abstained"] is False


def test_the_official_client_streams_text_then_citations_and_usage(client, keys):
    stream = client(keys.hr).chat.completions.create(
        model="rag", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "12 percent" in text
    final = [c for c in chunks if c.choices and c.choices[0].finish_reason][-1]
    assert final.model_extra["citations"][0]["doc_id"] == "hr/falcon-bonus.md"
    assert chunks[-1].usage is not None and chunks[-1].choices == []


def test_the_official_client_sees_the_keys_groups_and_its_errors(client, keys):
    public = client(keys.public).chat.completions.create(model="rag", messages=MESSAGES)
    assert public.model_extra["tailor"]["abstained"] and public.model_extra["citations"] == []
    with pytest.raises(openai.AuthenticationError, match="unknown or revoked"):
        client("tailor-kbad.key").chat.completions.create(model="rag", messages=MESSAGES)
    with pytest.raises(openai.NotFoundError, match="no adapter"):
        client(keys.hr).chat.completions.create(model="finetuned:ghost", messages=MESSAGES)
    with pytest.raises(openai.UnprocessableEntityError, match="model: unknown strategy"):
        client(keys.hr).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    models = {m.id for m in client(keys.public).models.list()}
    assert {"rag", "closed_book", "finetuned:tiny", "hybrid:tiny"} <= models and "finetuned:hr-bot" not in models


def test_tailors_own_openai_generator_works_against_the_server(app_server, keys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", keys.hr)
    generator = OpenAICompatGenerator(f"{app_server[1]}/v1", "rag", max_retries=0)
    generation = generator.generate(MESSAGES, GenerationConfig(max_new_tokens=64))
    assert "12 percent" in generation.text and generation.finish_reason == "stop"
    pieces = generator.stream(MESSAGES, GenerationConfig(max_new_tokens=64))
    streamed = []
    while True:
        try:
            streamed.append(next(pieces))
        except StopIteration as done:
            assert done.value.text == "".join(streamed) == generation.text
            break
    assert len(streamed) > 1


def test_adapter_strategies_load_their_model_once_and_record_the_version(app_server, client, keys):
    app, _ = app_server
    hr = client(keys.admin)  # groups public and hr: both adapters
    first = hr.chat.completions.create(model="finetuned:tiny", messages=MESSAGES, max_tokens=4)
    again = hr.chat.completions.create(model="finetuned:tiny", messages=MESSAGES, max_tokens=6, temperature=0)
    assert first.model_extra["tailor"]["adapter"] == "tiny@1" == again.model_extra["tailor"]["adapter"]
    assert first.model_extra["tailor"]["generator"].startswith("hf:") and first.usage.completion_tokens <= 4
    hybrid = hr.chat.completions.create(model="hybrid:tiny", messages=MESSAGES, max_tokens=4)
    assert hybrid.model_extra["tailor"]["strategy"] == "hybrid"
    catalog = app.state.serve.answerer.catalog
    assert ("finetuned", "tiny@1") in catalog.built() and ("hybrid", "tiny@1") in catalog.built()
    assert len([b for b in catalog.built() if b[0] == "finetuned"]) == 1


def test_an_adapter_trained_on_restricted_data_is_refused_to_keys_lacking_its_groups(app_server, client, keys):
    with pytest.raises(openai.PermissionDeniedError, match="hr-bot"):
        client(keys.public).chat.completions.create(model="finetuned:hr-bot", messages=MESSAGES, max_tokens=4)
    refused = httpx.post(f"{app_server[1]}/v1/ask", headers=Keys.header(keys.public),
                         json={"question": "hi", "strategy": "hybrid:hr-bot"})
    assert refused.status_code == 403 and refused.json()["error"]["param"] == "strategy"
    allowed = client(keys.hr).chat.completions.create(model="finetuned:hr-bot", messages=MESSAGES, max_tokens=4)
    assert allowed.model_extra["tailor"]["adapter"] == "hr-bot@1"
    caller = keys.public.removeprefix("tailor-").split(".")[0]
    refusals = httpx.get(f"{app_server[1]}/v1/audit", headers=Keys.header(keys.admin),
                         params={"key": caller, "outcome": "refused"}).json()
    assert [(e["strategy"], e["adapter"]) for e in refusals[:2]] == [("hybrid", "hr-bot"), ("finetuned", "hr-bot")]
    assert all("does not all hold" in e["reason"] and "'hr'" not in e["reason"] and e["groups"] == ["public"]
               and e["documents"] == [] for e in refusals[:2])  # the adapter's groups are not named
