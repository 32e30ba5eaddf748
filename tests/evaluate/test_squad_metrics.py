"""tailor.squad_metrics: EM/F1 against the official SQuAD 2.0 evaluation logic (its script sits beside this test)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import squad_v2_official as official

from tailor.squad_metrics import exact_match, fold_typography, normalize_answer, token_f1

VARIANTS = ("gold", "restyled", "truncated", "other", "empty", "only_articles")


def test_normalize_answer_matches_official_on_edge_cases():
    for text in ["The  Cat!", "an apple, a day", "théâtre - THE end.", "", "   ", "a.b,c", "Anthem"]:
        assert normalize_answer(text) == official.normalize_answer(text)


def test_typographic_quotes_apostrophes_and_dashes_fold_to_ascii_before_the_official_logic():
    """The official script keeps “ ” ’ – —, so “The Late Show” never matched "The Late Show"; ours folds them."""
    for text in ["\u201cThe Late Show\u201d", "O\u2019Brien\u2019s", "théâtre \u2014 THE end.", "1990\u20132000"]:
        assert normalize_answer(text) == official.normalize_answer(fold_typography(text))
    assert normalize_answer("\u201cThe Late Show\u201d") == normalize_answer('"The Late Show"') == "late show"
    assert exact_match("O\u2019Brien", ["O'Brien"]) == 1.0 and exact_match("1990\u20132000", ["1990-2000"]) == 1.0


def test_small_cases():
    assert exact_match("The Cat!", ["cat", "dog"]) == 1.0
    assert exact_match("cat", ["dog"]) == 0.0
    assert token_f1("black cat", ["the cat"]) == pytest.approx(2 / 3)
    assert token_f1("black cat", ["dog", "cat"]) == pytest.approx(2 / 3)
    # Unanswerable: only an answer that normalizes to empty is right.
    assert exact_match("", []) == token_f1("", []) == 1.0
    assert exact_match("the", []) == token_f1("a .", []) == 1.0
    assert exact_match("cat", []) == token_f1("cat", []) == 0.0
    # Golds that normalize to empty are dropped, as in the official script.
    assert exact_match("", ["the"]) == 1.0
    with pytest.raises(TypeError):
        exact_match("cat", "cat")


@pytest.fixture(scope="module")
def squad_dataset(datasets_dir: Path) -> list[dict]:
    path = datasets_dir / "squad_v2_dev_half" / "dev-v2.0.json"
    if not path.is_file():
        pytest.skip(f"SQuAD 2.0 dev half not found at {path} (set TAILOR_DATASETS)")
    return json.loads(path.read_text(encoding="utf-8"))["data"]


def _questions(dataset: list[dict]) -> list[dict]:
    return [qa for article in dataset for paragraph in article["paragraphs"] for qa in paragraph["qas"]]


def _prediction(variant: str, qa: dict, pool: list[str], rng: random.Random) -> str:
    answers = qa["answers"] or qa.get("plausible_answers") or [{"text": "nothing"}]
    gold = rng.choice(answers)["text"]
    if variant == "gold":
        return gold
    if variant == "restyled":
        return f"The  {gold.upper()}!! ,"
    if variant == "truncated":
        words = gold.split()
        return " ".join(words[: len(words) // 2]) if len(words) > 1 else gold[: max(1, len(gold) // 2)]
    if variant == "other":
        return rng.choice(pool)
    if variant == "only_articles":
        return "the a, an."
    return ""


@pytest.mark.parametrize("variant", VARIANTS)
def test_em_f1_match_official_script(squad_dataset: list[dict], variant: str):
    questions = _questions(squad_dataset)
    pool = [answer["text"] for qa in questions for answer in qa["answers"]]
    rng = random.Random(f"squad-{variant}")
    preds = {qa["id"]: _prediction(variant, qa, pool, rng) for qa in questions}

    # Ours on the raw text equals the official logic on the typographically folded text.
    folded = [{**article, "paragraphs": [{**paragraph, "qas": [
        {**qa, "answers": [{**a, "text": fold_typography(a["text"])} for a in qa["answers"]]}
        for qa in paragraph["qas"]]} for paragraph in article["paragraphs"]]} for article in squad_dataset]
    ref_exact, ref_f1 = official.get_raw_scores(folded, {qid: fold_typography(p) for qid, p in preds.items()})
    ours_exact, ours_f1 = {}, {}
    for qa in questions:
        golds = [answer["text"] for answer in qa["answers"]]
        ours_exact[qa["id"]] = exact_match(preds[qa["id"]], golds)
        ours_f1[qa["id"]] = token_f1(preds[qa["id"]], golds)
    assert ours_exact == pytest.approx(ref_exact, abs=1e-12)
    assert ours_f1 == pytest.approx(ref_f1, abs=1e-12)

    has_ans = official.make_qid_to_has_ans(squad_dataset)
    subsets = {
        "overall": [qa["id"] for qa in questions],
        "HasAns": [qid for qid, flag in has_ans.items() if flag],
        "NoAns": [qid for qid, flag in has_ans.items() if not flag],
    }
    assert len(subsets["HasAns"]) == 2910 and len(subsets["NoAns"]) == 3168
    for name, qids in subsets.items():
        ref = official.make_eval_dict(ref_exact, ref_f1, qid_list=qids if name != "overall" else None)
        assert 100.0 * sum(ours_exact[q] for q in qids) / len(qids) == pytest.approx(ref["exact"], abs=1e-9)
        assert 100.0 * sum(ours_f1[q] for q in qids) / len(qids) == pytest.approx(ref["f1"], abs=1e-9)
