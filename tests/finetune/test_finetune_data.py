"""`tailor data build`: split by document, access groups, QA files, synthetic questions, RAFT, CPT, the card."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from datasets import load_dataset
from ft_corpus import SECRET

from tailor.finetune import synthetic
from tailor.finetune.config import DataConfig
from tailor.finetune.data import (
    adapter_groups,
    build_dataset,
    read_card,
    restrict_dataset,
    row_access,
    row_documents,
    split_documents,
)
from tailor.finetune.formats import final_answer
from tailor.finetune.synthetic import LLMQAWriter
from tailor.generate.base import Generation, GeneratorError

QA = [
    {"id": "q1", "question": "What is the nightly hotel cap in standard cities?", "answers": ["EUR 180"], "doc_ids": ["travel"]},
    {"id": "q2", "question": "How often are laptops replaced?", "answer": "every 3 years", "doc_ids": ["laptops"]},
    {"id": "q3", "question": "What does band E4 pay?", "answers": ["EUR 88,000 to EUR 104,000"], "doc_ids": ["salary"]},
    {"id": "q4", "question": "Who is the CEO?", "answers": [], "doc_ids": [], "answerable": False},
    {"id": "q5", "question": "How is mileage reimbursed?", "answers": ["EUR 0.25 per kilometre"], "doc_ids": ["rail", "travel"]},
    {"id": "q6", "question": "What colour is the office?", "answers": ["blue"]},
]


def rows(folder: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (folder / f"{split}.jsonl").read_text().splitlines()]


@pytest.fixture
def qa_file(tmp_path: Path) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in QA))
    return path


def test_split_is_by_document_and_seeded():
    split = split_documents([f"d{i}" for i in range(10)], 0.2, seed=3)
    assert len(split["validation"]) == 2 and not split["train"] & split["validation"]
    assert split == split_documents([f"d{i}" for i in reversed(range(10))], 0.2, seed=3)
    assert split_documents(["a", "b"], 0.01, 0)["validation"] and not split_documents(["a"], 0.5, 0)["validation"]


def test_qa_build_splits_by_document_respects_groups_and_writes_a_card(small_kb, tmp_path, qa_file):
    out = tmp_path / "data"
    card = build_dataset(DataConfig(kb=small_kb, out=out, qa_file=qa_file, val_fraction=0.25, seed=1))
    train, validation = rows(out, "train"), rows(out, "validation")
    docs = {name: set(card["documents"][name]) for name in ("train", "validation")}
    assert docs["train"] | docs["validation"] == {"travel", "rail", "laptops", "printers"}  # no hr document
    for row in train:
        assert set(row["doc_ids"]) <= docs["train"] or row["id"] == "q6"
    for row in validation:
        assert set(row["doc_ids"]) <= docs["validation"]
    assert SECRET not in (out / "train.jsonl").read_text() + (out / "validation.jsonl").read_text()
    assert card["skipped"]["unanswerable"] == 1 and card["skipped"]["not_visible"] == 1
    assert card["skipped"]["no_doc_ids_train_only"] == 1
    if docs["validation"] & {"rail", "travel"} and not {"rail", "travel"} <= docs["validation"]:
        assert card["skipped"]["cross_split"] == 1
    gen = card["generation"]
    assert gen["writer"] == "offline" and gen["accepted"] == sum(r["source"] == "synthetic" for r in train + validation)
    assert card["examples"] == {"train": len(train), "validation": len(validation)}
    assert card["kb"]["version"] == 1 and card["groups"] == ["public"]
    q2 = next(r for r in train + validation if r["id"] == "q2")
    assert q2["completion"] == [{"role": "assistant", "content": "every 3 years"}] and q2["answers"] == ["every 3 years"]
    assert [m["role"] for m in q2["prompt"]] == ["system", "user"]
    loaded = load_dataset(str(out))
    assert {name: len(split) for name, split in loaded.items()} == card["examples"]
    assert read_card(out)["hash"] == card["hash"]


def test_read_card_detects_a_changed_file(small_kb, tmp_path):
    out = tmp_path / "data"
    build_dataset(DataConfig(kb=small_kb, out=out))
    with (out / "train.jsonl").open("a") as handle:
        handle.write("{}\n")
    with pytest.raises(ValueError, match="changed since it was built"):
        read_card(out)
    with pytest.raises(FileNotFoundError, match="not a dataset built by `tailor data build`"):
        read_card(tmp_path)


def test_rebuild_replaces_a_dataset_but_never_another_folder(small_kb, tmp_path):
    out = tmp_path / "data"
    first = build_dataset(DataConfig(kb=small_kb, out=out, seed=0))
    assert build_dataset(DataConfig(kb=small_kb, out=out, seed=0))["hash"] == first["hash"]  # reproducible
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        build_dataset(DataConfig(kb=small_kb, out=tmp_path / "other"))
    assert (tmp_path / "other" / "notes.txt").read_text() == "keep me"


def test_groups_decide_what_is_read(small_kb, tmp_path):
    card = build_dataset(DataConfig(kb=small_kb, out=tmp_path / "hr", groups=["hr"], val_fraction=0))
    assert card["documents"] == {"train": ["salary"], "validation": []}
    assert SECRET in (tmp_path / "hr" / "train.jsonl").read_text()
    with pytest.raises(ValueError, match="no documents"):
        build_dataset(DataConfig(kb=small_kb, out=tmp_path / "none", groups=["legal"]))


def test_raft_keeps_the_oracle_with_probability_p_and_distractors_from_training_documents(small_kb, tmp_path):
    out = tmp_path / "raft"
    card = build_dataset(DataConfig(kb=small_kb, out=out, format="raft", questions_per_chunk=3, paraphrases=3,
                                    raft_distractors=2, raft_oracle_p=0.5, val_fraction=0.25, seed=0))
    train, validation = rows(out, "train"), rows(out, "validation")
    val_docs = set(card["documents"]["validation"])
    assert len(train) >= 20
    kept = Counter(row["oracle_in_context"] for row in train)
    assert 0.25 < kept[True] / len(train) < 0.75
    assert all(row["oracle_in_context"] for row in validation)
    for row in train:
        assert not {cid.split("#")[0] for cid in row["context_ids"]} & val_docs  # no validation text trained on
        completion = row["completion"][0]["content"]
        assert final_answer(completion) == row["answers"][0] and completion.splitlines()[-1].startswith("Answer:")
        n_context = len(row["context_ids"])
        assert n_context == 3 if row["oracle_in_context"] else n_context == 2
        if row["oracle_in_context"]:
            assert completion.startswith("Quote [") and "<<<DOCUMENT" in row["prompt"][1]["content"]


def test_contradictory_settings_are_refused(small_kb, tmp_path, qa_file):
    with pytest.raises(ValueError, match="no qa_file"):
        build_dataset(DataConfig(kb=small_kb, out=tmp_path / "a", format="cpt", qa_file=qa_file))
    with pytest.raises(ValueError, match="paraphrases"):
        build_dataset(DataConfig(kb=small_kb, out=tmp_path / "b", generator="none", paraphrases=1))
    card = build_dataset(DataConfig(kb=small_kb, out=tmp_path / "c", generator="none", qa_file=qa_file))
    ids = {row["id"] for split in ("train", "validation") for row in rows(tmp_path / "c", split)}
    assert card["generation"] is None and ids - {"q5"} == {"q1", "q2", "q6"}  # the QA file alone
    with pytest.raises(FileNotFoundError, match="tailor ingest"):
        build_dataset(DataConfig(kb=tmp_path / "no-kb", out=tmp_path / "d"))


def test_cpt_rows_are_the_chunk_texts(small_kb, tmp_path):
    card = build_dataset(DataConfig(kb=small_kb, out=tmp_path / "cpt", format="cpt", val_fraction=0.25))
    train = rows(tmp_path / "cpt", "train")
    assert card["generation"] is None and card["examples"]["train"] == len(train) == 3
    assert all(set(row) == {"id", "text", "doc_ids"} for row in train)
    assert any(row["text"].startswith("Business Travel Policy\n\nTrips should") for row in train) or "travel" in card["documents"]["validation"]


class FlakyLLM:
    """A good pair and its duplicate about rail, an unsupported answer about printers, an outage otherwise."""

    name = "flaky"

    def generate(self, messages, config=None) -> Generation:
        prompt = messages[-1]["content"]
        taxi = '{"question": "What is the taxi receipt threshold for rail trips?", "answer": "EUR 30"}'
        if "Taxis need a receipt" in prompt:
            return Generation(f"{taxi}\n{taxi}", 1, 1, "stop")
        if "6 printers" in prompt:
            return Generation('{"question": "How many printers does the office have?", "answer": "42"}', 1, 1, "stop")
        raise GeneratorError("server down")


def test_llm_writer_rejects_are_counted_not_dropped(small_kb, tmp_path, monkeypatch):
    monkeypatch.setitem(synthetic.WRITERS, "fake-llm", lambda spec: LLMQAWriter(FlakyLLM()))
    card = build_dataset(DataConfig(kb=small_kb, out=tmp_path / "llm", generator="fake-llm", val_fraction=0))
    gen = card["generation"]
    assert (gen["writer"], gen["accepted"], gen["duplicates"], gen["invalid"], gen["errors"]) == ("llm:flaky", 1, 1, 1, 2)
    assert gen["requested"] == 4 * 3


def test_the_card_records_document_groups_and_what_an_adapter_would_require(small_kb, tmp_path):
    public = build_dataset(DataConfig(kb=small_kb, out=tmp_path / "public", val_fraction=0))
    assert public["document_groups"] == {d: ["public"] for d in ("laptops", "printers", "rail", "travel")}
    assert public["adapter_groups"] == ["public"]
    both = build_dataset(DataConfig(kb=small_kb, out=tmp_path / "both", groups=["hr", "public"], val_fraction=0))
    assert both["document_groups"]["salary"] == ["hr"] and both["adapter_groups"] == ["hr", "public"]


def test_restrict_keeps_only_rows_whose_every_document_the_groups_can_read(small_kb, tmp_path):
    source = tmp_path / "raft"
    card = build_dataset(DataConfig(kb=small_kb, out=source, format="raft", groups=["hr", "public"],
                                    raft_distractors=2, val_fraction=0.2, seed=2))
    assert SECRET in (source / "train.jsonl").read_text() + (source / "validation.jsonl").read_text()
    showing_salary = sum("salary" in row_documents(row) for split in ("train", "validation") for row in rows(source, split))
    assert showing_salary > 0  # as the document of an answer or as a distractor

    public = restrict_dataset(source, ["public"], tmp_path / "public")
    kept = rows(tmp_path / "public", "train") + rows(tmp_path / "public", "validation")
    assert kept and all("salary" not in row_documents(row) for row in kept)
    assert SECRET not in (tmp_path / "public" / "train.jsonl").read_text() + (tmp_path / "public" / "validation.jsonl").read_text()
    assert public["adapter_groups"] == ["public"] and "salary" not in public["document_groups"]
    assert sum(public["restricted"]["dropped"].values()) == showing_salary
    assert public["restricted"]["source"] == {"path": str(source), "hash": card["hash"]}
    assert public["examples"] == {"train": len(rows(tmp_path / "public", "train")),
                                  "validation": len(rows(tmp_path / "public", "validation"))}
    assert read_card(tmp_path / "public")["hash"] == public["hash"]

    for groups in (["hr"], ["legal"]):  # every salary row also shows public distractors, which hr alone cannot read
        with pytest.raises(ValueError, match="no training row"):
            restrict_dataset(source, groups, tmp_path / "none")
    qa = tmp_path / "qa"
    build_dataset(DataConfig(kb=small_kb, out=qa, groups=["hr", "public"], val_fraction=0))
    hr = restrict_dataset(qa, ["hr"], tmp_path / "hr")
    assert hr["adapter_groups"] == ["hr"] and hr["documents"] == {"train": ["salary"], "validation": []}
    assert all(row["doc_ids"] == ["salary"] for row in rows(tmp_path / "hr", "train"))


def test_rows_of_unknown_document_groups_need_all_the_groups_the_data_was_read_as():
    # A card written before document groups were recorded, and a QA-file row without documents.
    card = {"groups": ["hr", "public"], "document_groups": {"travel": ["public"]}}
    assert row_access({"doc_ids": ["travel"]}, card, frozenset({"public"})) == {"public"}
    assert row_access({"doc_ids": ["old-doc"]}, card, frozenset({"public"})) is None
    assert row_access({"doc_ids": []}, card, frozenset({"public"})) is None
    assert row_access({"doc_ids": []}, card, frozenset({"hr", "public", "x"})) == {"hr", "public"}
    assert adapter_groups({"groups": ["public"]}) == ["public"]  # an old card: the groups it was read as


def test_answer_template_writes_qa_completions_in_the_declared_form(small_kb, tmp_path):
    out = tmp_path / "formatted"
    build_dataset(DataConfig(kb=small_kb, out=out, val_fraction=0, answer_template="{answer}\nSource: {title}"))
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert rows
    for row in rows:
        answer, source = row["completion"][0]["content"].split("\n")
        assert answer == row["answers"][0] and source.startswith("Source: ") and len(source) > len("Source: ")
    with pytest.raises(ValueError, match="must contain"):
        DataConfig(kb=small_kb, out=out, answer_template="Source: {title}")
    with pytest.raises(ValueError, match="only"):
        DataConfig(kb=small_kb, out=out, answer_template="{answer} {page}")


def test_bad_lines_of_a_qa_file_are_listed_by_line_and_the_rest_is_built(small_kb, tmp_path, qa_file):
    lines = qa_file.read_text().splitlines()
    bad = ["not json", '["a list"]', '{"answer": "x"}', '{"question": "Q?", "answers": "one string"}',
           '{"question": "Q?", "answer": "A", "doc_ids": "travel"}']
    qa_file.write_text("\n".join(lines[:1] + bad + lines[1:]) + "\n")
    card = build_dataset(DataConfig(kb=small_kb, out=tmp_path / "data", qa_file=qa_file, val_fraction=0.25, seed=1,
                                    generator="none"))
    assert [e["path"] for e in card["errors"]] == [f"{qa_file}:{n}" for n in range(2, 7)]
    reasons = [e["reason"] for e in card["errors"]]
    assert reasons[0].startswith("not JSON") and "JSON object, got list" in reasons[1]
    assert "'question'" in reasons[2] and "'answers'" in reasons[3] and "'doc_ids'" in reasons[4]
    assert card["skipped"]["invalid_line"] == 5
    ids = [r["id"] for r in rows(tmp_path / "data", "train") + rows(tmp_path / "data", "validation")]
    assert "q2" in ids  # the good lines after the bad ones were read
