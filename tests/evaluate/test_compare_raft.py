"""The hybrid's RAFT adapter is trained on the prompt the hybrid arm is asked, and no adapter of a run whose
questions were generated ever sees the documents, sentences or answers of those questions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tailor.evaluate.compare.arms import ArmPlan, build_strategy
from tailor.evaluate.compare.config import ArmConfig, CompareConfig
from tailor.evaluate.compare.context import RunContext
from tailor.evaluate.compare.inputs import generate_questions
from tailor.evaluate.compare.models import DocumentTraining, raft_context, train, training_key
from tailor.finetune.config import DataConfig
from tailor.finetune.data import build_dataset
from tailor.finetune.registry import AdapterEntry
from tailor.generate.prompts import bare_question, posed_question
from tailor.generate.sentences import split_sentences
from tailor.jsonl import read_jsonl
from tailor.records import Document, Hit
from tailor.squad_metrics import normalize_answer

TEXTS = {
    f"doc{i}.md": f"# Loom {i}\n\nThe Model {i} loom weaves {100 + i} metres of cloth per hour. It weighs {40 + i} "
    f"kilograms and needs a {220 + i} volt supply. The Model {i} was first sold in {2000 + i}.\n"
    for i in range(10)
}
HR = "# Pay\n\nBand L4 pays EUR 81,000 a year in 2026. Band L5 pays EUR 97,500 a year.\n"
HYBRID = ArmConfig(name="hybrid", strategy="hybrid", template="rag_quoted", top_k=3, focus_sentences=1)


@pytest.fixture
def kb(make_kb):
    kb = make_kb()
    kb.ingest_documents([Document(id=d, text=t, title=f"Loom {d[3]}", source=d, groups=("public",))
                         for d, t in TEXTS.items()]
                        + [Document(id="hr.md", text=HR, title="Pay", source="hr.md", groups=("hr",))])
    return kb


def _hits_by_chunk(kb) -> dict[str, Hit]:
    found = {}
    for doc in kb.documents(None):
        chunks = kb.store.get_chunks([f"{doc.id}#{i}" for i in range(doc.n_chunks)])
        found.update({cid: Hit(chunk, 0.0, doc.title, doc.source) for cid, (chunk, *_) in chunks.items()})
    return found


def _raft_rows(kb, out: Path, oracle_p: float) -> list[dict]:
    data = DataConfig(kb=Path(kb.uri), out=out, format="raft", val_fraction=0.0, questions_per_chunk=3,
                      raft_oracle_p=oracle_p, answer_template="{answer}\nSource: {title}")
    build_dataset(data, raft_context(HYBRID, "tiny", kb, ["public"]))
    return read_jsonl(out / "train.jsonl")


def test_the_hybrid_trains_by_default_its_own_raft_adapter():
    arm = ArmConfig(name="hybrid (wide)", strategy="hybrid")
    assert arm.data_format == "raft" and training_key(arm) == "raft-hybrid_wide_"
    assert ArmConfig(name="finetuned", strategy="finetuned").data_format == "qa"
    assert training_key(ArmConfig(name="h", strategy="hybrid", data_format="qa")) == "qa"  # the old way, on request


def test_each_training_prompt_is_the_prompt_the_hybrid_arm_is_asked(kb, tmp_path):
    rows = _raft_rows(kb, tmp_path / "data", 0.5)
    plan = ArmPlan(HYBRID, generator="hf:tiny", adapter=AdapterEntry("a", 1, tmp_path / "a", {}))
    strategy = build_strategy(plan, kb)  # the arm as compare answers with it (the model loads on first use only)
    hits = _hits_by_chunk(kb)
    exactly_retrieved = 0
    for row in rows:
        asked, _ = strategy._prompt(row["question"], [hits[c] for c in row["context_ids"]])
        assert asked.messages == row["prompt"]  # the same question and hits render the same prompt
        retrieved, _ = strategy.retriever.run(row["question"], ("public",))
        if row["oracle_in_context"] and row["oracle_id"] in [h.chunk.id for h in retrieved]:
            assert row["context_ids"] == [h.chunk.id for h in retrieved]  # the arm's own retrieval, unchanged
            assert row["prompt"] == strategy._prompt(row["question"], retrieved)[0].messages
            exactly_retrieved += 1
        assert row["completion"][0]["content"] == f"{row['answers'][0]}\nSource: {hits[row['oracle_id']].doc_title}"
        assert '"""' in row["prompt"][1]["content"]  # rag_quoted, focused on one sentence (not whole chunks)
        assert row["prompt"][1]["content"].count('"""') == 2
    assert exactly_retrieved > 0


def test_a_multiple_choice_row_is_searched_and_focused_without_its_options_as_the_arm_does(kb, tmp_path):
    question = posed_question("How many metres of cloth per hour does the Model 3 loom weave?",
                              ["103 metres", "Model 7", "It weighs 45 kilograms", "volt 229", "2009", "Loom 8"])
    context = raft_context(HYBRID, "tiny", kb, ["public"])
    strategy = build_strategy(ArmPlan(HYBRID, generator="hf:tiny", adapter=AdapterEntry("a", 1, tmp_path, {})), kb)
    retrieved, _ = strategy.retriever.run(bare_question(question), ("public",))
    oracle = next(h for h in retrieved if h.chunk.doc_id == "doc3.md")
    hits = context.hits(question, oracle, keep=True, allowed=set(TEXTS))
    assert [h.chunk.id for h in hits] == [h.chunk.id for h in retrieved]
    assert context.prompt(question, hits).messages == strategy._prompt(question, hits)[0].messages
    assert "D. volt 229" in context.prompt(question, hits).messages[-1]["content"]  # the options are shown


def test_the_oracle_is_dropped_at_the_configured_rate_and_distractors_are_the_retrievers(kb, tmp_path):
    for p in (0.0, 1.0):
        rows = _raft_rows(kb, tmp_path / f"data-{p}", p)
        assert rows and all(row["oracle_in_context"] is bool(p) for row in rows)
    rows = _raft_rows(kb, tmp_path / "data", 0.7)
    kept = sum(row["oracle_in_context"] for row in rows)
    n = len(rows)
    assert n >= 25 and abs(kept - 0.7 * n) <= 3 * (n * 0.7 * 0.3) ** 0.5
    for row in rows:
        own = row["oracle_id"].rpartition("#")[0]
        if row["oracle_in_context"]:
            assert row["oracle_id"] in row["context_ids"]
            continue
        assert all(c.rpartition("#")[0] != own for c in row["context_ids"])  # the oracle's document is dropped
        found = kb.search(row["question"], k=20, groups=["public"]).hits
        assert row["context_ids"] == [h.chunk.id for h in found if h.chunk.doc_id != own][: HYBRID.top_k]


def test_no_generated_question_reaches_any_adapters_training(kb, tmp_path, monkeypatch):
    from tailor.evaluate.compare import training

    built: list[Path] = []
    epochs: dict[str, float | None] = {}

    def fit(card, dataset, *args, **kwargs):
        built.append(dataset)
        epochs[dataset.name] = kwargs["finetune_overrides"].get("epochs")

    monkeypatch.setattr(training, "fit_adapter", fit)
    config = CompareConfig(kb=kb.uri, out=tmp_path / "out", arms=[
        ArmConfig(name="finetuned", strategy="finetuned"), HYBRID], training={"paraphrases": 1})
    ctx = RunContext(config, tmp_path / "out", tmp_path / "home")
    questions = generate_questions(ctx, kb).questions
    held_out = {d for q in questions for d in q.doc_ids}
    assert questions and held_out and held_out <= {d.id for d in kb.documents(None)}
    for arm in config.arms:
        DocumentTraining().train(ctx, kb, "tiny", training_key(arm))
    train(ctx, kb, "tiny", "qa", groups=["hr", "public"], suffix="-leak")  # the leak probe's adapter
    assert len(built) == 3
    assert epochs == {"data-compare-qa": None, "data-compare-raft-hybrid": 1.5, "data-compare-qa-leak": None}  # 3 / 2
    rows = [row for folder in built for row in read_jsonl(folder / "train.jsonl")]
    assert {row.get("context_ids") is not None for row in rows} == {True, False} and len(rows) > 20
    closed_book = [row["source"] for row in rows if row.get("context_ids") is None]
    assert "paraphrase" in closed_book  # rewordings teach the closed-book adapters; RAFT rows ask each question once
    assert all(row["source"] != "paraphrase" for row in rows if row.get("context_ids") is not None)
    documents = {d.id: (TEXTS.get(d.id) or HR) for d in kb.documents(None)}
    trained_text = " ".join(documents[d] for d in documents if d not in held_out)
    for row in rows:
        shown = {*row["doc_ids"], *(c.rpartition("#")[0] for c in row.get("context_ids") or ())}
        assert not shown & held_out
        text = normalize_answer(json.dumps([row["prompt"], row["completion"]], ensure_ascii=False))
        for doc in held_out:
            for start, end in split_sentences(documents[doc]):
                assert normalize_answer(documents[doc][start:end]) not in text
        for question in questions:
            assert normalize_answer(question.question) != normalize_answer(row["question"])
            for answer in question.answers:
                if normalize_answer(answer) not in normalize_answer(trained_text):  # a fact of held-out text only
                    assert normalize_answer(answer) not in text
