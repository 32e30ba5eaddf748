"""Pieces of the compare run that need a knowledge base but no model: inputs, the KB fingerprint, answering."""

from __future__ import annotations

import pytest

from tailor.evaluate.compare.cache import AnswerCache
from tailor.evaluate.compare.config import CompareConfig
from tailor.evaluate.compare.context import RunContext, kb_fingerprint
from tailor.evaluate.compare.inputs import generate_questions
from tailor.records import Document
from tailor.squad_metrics import normalize_answer

TEXTS = {
    f"doc{i}.md": f"# Product {i}\n\nThe Model {i} loom weaves {100 + i} metres of cloth per hour. It weighs {40 + i} "
    f"kilograms and needs a {220 + i} volt supply. The Model {i} was first sold in {2000 + i}.\n"
    for i in range(10)
}


@pytest.mark.parametrize("store", ["kb", "kb.db"], ids=["local", "milvus-lite"])
def test_without_a_questions_file_questions_come_from_held_out_documents(make_kb, tmp_path, store):
    kb = make_kb(store)
    kb.ingest_documents([Document(id=d, text=t, title=d, source=d, groups=("public",)) for d, t in TEXTS.items()]
                        + [Document(id="hr.md", text="# Pay\n\nBand L4 pays EUR 81,000 a year in 2026.\n",
                                    title="Pay", source="hr.md", groups=("hr",))])
    ctx = RunContext(CompareConfig(kb=kb.uri, out=tmp_path / "out", arms=[]), tmp_path / "out", tmp_path / "home")
    found = generate_questions(ctx, kb)
    assert found.generated and found.questions and "held-out documents" in found.source
    held_out = {d for q in found.questions for d in q.doc_ids}
    assert 0 < len(held_out) < len(TEXTS) + 1  # a share of the documents, not all of them
    for question in found.questions:
        (doc,) = question.doc_ids
        text = TEXTS.get(doc) or "Band L4 pays EUR 81,000 a year in 2026."
        assert normalize_answer(question.answers[0]) in normalize_answer(text)
        assert question.groups == (("hr",) if doc == "hr.md" else ("public",))


def test_the_kb_fingerprint_follows_content_not_version_numbers(make_kb):
    first, second = make_kb("a"), make_kb("b")
    documents = [Document(id=d, text=t, title=d, source=d) for d, t in list(TEXTS.items())[:3]]
    first.ingest_documents(documents)
    second.ingest_documents(documents[:1])
    second.ingest_documents(documents)
    assert first.version != second.version and kb_fingerprint(first) == kb_fingerprint(second)
    second.ingest_documents([Document(id="doc0.md", text="changed", title="doc0.md", source="doc0.md")])
    assert kb_fingerprint(first) != kb_fingerprint(second)


def test_an_arm_refused_to_a_questions_caller_answers_refused_and_the_refusal_is_audited(tmp_path):
    from tailor.audit import AuditLog
    from tailor.evaluate.compare.answering import Answerer
    from tailor.evaluate.compare.arms import ArmPlan
    from tailor.evaluate.compare.config import ArmConfig
    from tailor.evaluate.compare.questions import Question
    from tailor.finetune import strategies  # noqa: F401  (registers the finetuned strategy)
    from tailor.finetune.registry import AdapterEntry

    ctx = RunContext(CompareConfig(kb=tmp_path / "kb", out=tmp_path / "out", arms=[]), tmp_path / "out", tmp_path)
    ctx.work.mkdir(parents=True)
    run = Answerer(ctx, AnswerCache(ctx.work / "answers.sqlite"), AuditLog.open(tmp_path / "trail"))
    adapter = AdapterEntry("hr-qa", 2, tmp_path / "hr-qa", {"groups": ["hr"], "base_model": {"id": "tiny"}})
    plan = ArmPlan(ArmConfig(name="finetuned", strategy="finetuned"), generator="hf:tiny", adapter=adapter,
                   fingerprint={"arm": "finetuned"})
    questions = [Question("q1", "What does band L4 pay?", ("EUR 81,000",), groups=("public",))]
    (answer,) = run.ask(plan, None, questions, "state", "answering", kb_version=7).values()  # no strategy: never asked
    assert answer["abstained"] and answer["text"].startswith("Refused:")
    (entry,) = run.audit.query(outcome="refused")
    assert "hr" in entry.reason and (entry.caller, entry.groups, entry.kb_version) == ("compare", ["public"], 7)
    assert (entry.adapter, entry.adapter_version, entry.strategy) == ("hr-qa", 2, "finetuned")
    run.audit.close()


def product_questions() -> list[dict]:
    rows = [{"id": f"q{i}", "question": f"How many metres of cloth per hour does the Model {i} loom weave?",
             "answers": [f"{100 + i} metres"], "doc_ids": [f"doc{i}.md"]} for i in range(10)]
    return rows + [{"id": "none", "question": "Who founded the chess club?", "answerable": False}]


def test_an_arm_asked_a_sample_is_scored_probed_and_paired_on_its_sample_only(tmp_path):
    import json

    from tailor.evaluate.compare.config import ArmConfig
    from tailor.evaluate.compare.rows import QuestionRows
    from tailor.evaluate.compare.runner import run_compare

    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in TEXTS.items():
        (docs / name).write_text(text)
    (tmp_path / "q.jsonl").write_text("\n".join(json.dumps(q) for q in product_questions()) + "\n")
    arms = [ArmConfig(name="all", strategy="rag", generator="extractive"),
            ArmConfig(name="sampled", strategy="rag", generator="extractive", top_k=2, sample=4)]
    config = CompareConfig(docs=docs, questions=tmp_path / "q.jsonl", out=tmp_path / "out", arms=arms,
                           home=tmp_path / "home")
    result = run_compare(config)

    report = result.report
    assert isinstance(report["per_question"], QuestionRows)  # read from the answer cache, not held
    written = json.loads(result.paths["json"].read_text())
    sampled = [row["id"] for row in written["per_question"] if "sampled" in row["answers"]]
    assert len(sampled) == 4 and len(written["per_question"]) == 11
    assert all("all" in row["answers"] for row in written["per_question"])
    assert written["per_question"] == list(report["per_question"])
    answerable = sum(q != "none" for q in sampled)
    assert written["metrics"]["sampled"]["accuracy"]["n"] == answerable
    assert written["metrics"]["all"]["accuracy"]["n"] == 10
    accuracy = next(c for c in written["comparisons"] if c["metric"] == "accuracy")
    assert accuracy["n"] == answerable  # paired on the questions both arms answered
    citation = next(c for row in written["per_question"] for a in row["answers"].values() for c in a["citations"])
    assert citation["passage"] and citation["quote"] in citation["passage"]


def test_a_question_asked_twice_in_one_batch_is_answered_once(tmp_path):
    from tailor.evaluate.compare.answering import Answerer
    from tailor.evaluate.compare.arms import ArmPlan
    from tailor.evaluate.compare.config import ArmConfig
    from tailor.evaluate.compare.questions import Question
    from tailor.records import Answer

    class Counting:
        asked: list[str] = []

        def answer_batch(self, questions, groups):
            self.asked += questions
            return [Answer(question=q, text="EUR 180", strategy="closed_book", generator="counting") for q in questions]

    ctx = RunContext(CompareConfig(kb=tmp_path / "kb", out=tmp_path / "out", arms=[]), tmp_path / "out", tmp_path)
    run = Answerer(ctx, AnswerCache(tmp_path / "answers.sqlite"), None)
    plan = ArmPlan(ArmConfig(name="closed", strategy="closed_book"), generator="hf:x", fingerprint={"arm": "closed"})
    questions = [Question(f"q{i}", "What is the hotel cap?", ("EUR 180",)) for i in range(3)]
    strategy = Counting()
    answers = run.ask(plan, strategy, questions, "state", "answering", kb_version=1)
    assert strategy.asked == ["What is the hotel cap?"] and set(answers) == {"q0", "q1", "q2"}
    assert len(run.cache) == 1
