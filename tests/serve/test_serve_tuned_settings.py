"""`tailor serve --settings FILE`: a `tailor tune` settings file of the rag arm sets the served search,
chunking and prompt."""

from __future__ import annotations

import pytest

from tailor.evaluate.compare.config import CompareConfig
from tailor.evaluate.tune.front import FrontPoint
from tailor.evaluate.tune.settings_files import rag_fragment, write_settings
from tailor.evaluate.tune.space import RagSettings
from tailor.serve.config import ServeSettings

POINT = RagSettings(chunk_tokens=128, overlap_tokens=0, top_k=3, mode="hybrid", dense_weight=0.7, rerank=False,
                    template="rag_titled", focus_sentences=2, focus_abstain_below=0.1, max_new_tokens=16)


def settings_file(tmp_path):
    compare = CompareConfig(docs=tmp_path, base_model="smollm2-135m-instruct")
    point = FrontPoint(arm="rag", rank=1, trial=4, accuracy=0.6, p50_ms=200.0, cost_per_1000=0.005,
                       settings=POINT.model_dump(), defaults=False)
    return write_settings(tmp_path / "settings", point, rag_fragment(compare, POINT, None))


def test_a_tuned_rag_point_sets_the_served_prompt_search_and_chunking(tmp_path):
    served = ServeSettings.from_file(None).with_tuned(settings_file(tmp_path))
    ask = served.ask
    assert (ask.strategy, ask.generator, ask.top_k, ask.template) == ("rag", "hf:smollm2-135m-instruct", 3, "rag_titled")
    assert (ask.focus_sentences, ask.focus_abstain_below, ask.max_new_tokens) == (2, 0.1, 16)
    assert (served.kb.index.chunk_tokens, served.kb.index.overlap_tokens) == (128, 0)
    assert (served.kb.retrieval.mode, served.kb.retrieval.dense_weight, served.kb.retrieval.bm25_weight) == ("hybrid", 0.7, 0.3)


def test_a_kb_built_with_another_chunking_refuses_the_tuned_one(tmp_path, embedder):
    from tailor.kb.knowledge_base import KnowledgeBase

    KnowledgeBase.open(tmp_path / "kb", embedder=embedder).close()
    served = ServeSettings.from_file(None).with_tuned(settings_file(tmp_path))
    with pytest.raises(ValueError, match="cannot change without a new knowledge base"):
        KnowledgeBase.open(tmp_path / "kb", served.kb, embedder=embedder)


def test_a_file_that_is_not_a_tuned_rag_point_is_refused(tmp_path):
    path = tmp_path / "finetuned-1.yaml"
    path.write_text("base_model: x\narms:\n  - {name: finetuned, strategy: finetuned}\n")
    with pytest.raises(ValueError, match="not a `tailor tune` settings file"):
        ServeSettings.from_file(None).with_tuned(path)
