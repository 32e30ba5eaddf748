import pytest

from tailor.generate.strategies import AskConfig, make_strategy
from tailor.kb.knowledge_base import KnowledgeBase
from tailor.serve.answering import AskSettings, ModelName, with_settings


@pytest.mark.parametrize("text, parsed", [
    ("rag", ModelName("rag")), ("closed_book", ModelName("closed_book")),
    ("finetuned:support", ModelName("finetuned", "support")), (" hybrid:support@3 ", ModelName("hybrid", "support@3")),
])
def test_model_names_are_strategies_with_an_optional_adapter(text, parsed):
    assert ModelName.parse(text) == parsed


@pytest.mark.parametrize("text, problem", [
    ("gpt-4o", "model: unknown strategy"), ("finetuned", "model: finetuned needs an adapter"),
    ("hybrid:", "needs an adapter"), ("rag:support", "model: rag takes no adapter"), ("", "unknown strategy"),
    ("finetuned:../../etc", "not an adapter reference"), ("hybrid:/srv/adapter", "not an adapter reference"),
    ("finetuned:.hidden", "not an adapter reference"), ("finetuned:a@b", "not an adapter reference"),
])
def test_bad_model_names_name_the_field(text, problem):
    with pytest.raises(ValueError, match=problem):
        ModelName.parse(text)


def test_request_settings_make_a_light_copy_that_shares_the_loaded_parts(base_kb, embedder):
    kb = KnowledgeBase.open(base_kb, embedder=embedder)
    rag = make_strategy(AskConfig(), kb)
    assert with_settings(rag, AskSettings()) is rag
    wider = with_settings(rag, AskSettings(top_k=9, max_tokens=5))
    assert wider.retriever.top_k == 9 and rag.retriever.top_k == 5
    assert wider.reader is rag.reader and wider.retriever.embedder is rag.retriever.embedder

    llm = make_strategy(AskConfig(strategy="closed_book", generator="openai:http://127.0.0.1:9/v1#m"), kb)
    tuned = with_settings(llm, AskSettings(top_k=3, max_tokens=7, temperature=0.5))
    assert (tuned.reader.config.max_new_tokens, tuned.reader.config.temperature) == (7, 0.5)
    assert tuned.reader.generator is llm.reader.generator and llm.reader.config.max_new_tokens == 256
    assert tuned.retriever is None
    kb.close()


def test_a_stream_closed_by_the_client_is_audited_as_interrupted(base_kb, embedder, tmp_path):
    from tailor.audit import AuditLog
    from tailor.finetune.registry import AdapterRegistry
    from tailor.serve.answering import Answerer, StrategyCatalog
    from tailor.serve.keys import ApiKey
    from tailor.serve.metrics import ServeMetrics

    kb = KnowledgeBase.open(base_kb, embedder=embedder)
    trail = AuditLog.open(tmp_path / "audit")
    answerer = Answerer(StrategyCatalog(kb, AskConfig(), AdapterRegistry(tmp_path / "home")), ServeMetrics(), trail)
    caller = ApiKey("k1", "hash", ("public",))
    resolved = answerer.prepare(ModelName("rag"), caller, AskSettings(), "What is the nightly hotel cap?")
    pieces = answerer.stream("What is the nightly hotel cap?", resolved, caller)
    first = next(pieces)
    pieces.close()  # what the response does when the client goes away
    (entry,) = trail.query()
    assert (entry.outcome, entry.caller, entry.groups, entry.strategy) == ("interrupted", "k1", ["public"], "rag")
    assert entry.answer_chars == len(first) and entry.retrieved and entry.cited == []
    assert "closed before the answer was complete" in entry.reason
    whole = answerer.stream("What is the nightly hotel cap?", resolved, caller)
    with pytest.raises(StopIteration):
        while True:
            next(whole)
    assert [e.outcome for e in trail.query()] == ["answered", "interrupted"]
    trail.close()
    kb.close()
