from tailor.evaluate.compare.questions import Question
from tailor.evaluate.compare.scoring import chosen_choice, committed_answer, score_answer, states_answer
from tailor.evaluate.metrics import mrr_at_k, ndcg_at_k, recall_at_k

QUESTION = Question("q1", "What is the hotel cap?", ("EUR 180",), ("travel.md",))


def answer(text, citations=(), hits=(), abstained=False, unsupported=()):
    return {"text": text, "abstained": abstained, "unsupported": list(unsupported),
            "citations": [{"doc_id": d, "supported": True} for d in citations],
            "hits": [{"chunk": {"id": f"{d}#0", "doc_id": d}} for d in hits]}


def test_a_quoted_sentence_that_states_the_gold_answer_is_correct_but_not_an_exact_match():
    scores = score_answer(QUESTION, answer("The nightly hotel cap is EUR 180 in standard cities. [1]",
                                           citations=["travel.md"], hits=["travel.md", "other.md"]), retrieves=True)
    assert scores["accuracy"] == scores["contains"] == 1.0
    assert scores["exact_match"] == 0.0 and 0 < scores["f1"] < 1
    assert scores["grounded"] == 1.0
    assert scores["citation_precision"] == scores["citation_recall"] == 1.0
    assert scores["abstain_wrong"] == 0.0


def test_a_raft_style_answer_is_scored_on_its_final_answer_line():
    text = 'Quote [2]: "Hotels are capped at EUR 180 per night."\nAnswer: EUR 180 [2]'
    assert committed_answer(text) == "EUR 180"
    scores = score_answer(QUESTION, answer(text), retrieves=False)
    assert scores["exact_match"] == 1.0 and scores["f1"] == 1.0
    assert "grounded" not in scores and "retrieval_mrr" not in scores


def test_containment_needs_whole_tokens():
    question = Question("q", "How many?", ("18",))
    assert score_answer(question, answer("It is 180."), retrieves=False)["accuracy"] == 0.0
    assert score_answer(question, answer("It is 18."), retrieves=False)["accuracy"] == 1.0


def test_abstentions_are_right_on_unanswerable_and_wrong_on_answerable_questions():
    unanswerable = Question("u", "What is the CEO's shoe size?", answerable=False)
    assert score_answer(unanswerable, answer("I don't know.", abstained=True), retrieves=True) == {"abstain_correct": 1.0}
    assert score_answer(unanswerable, answer("Size 44."), retrieves=True) == {"abstain_correct": 0.0}
    scores = score_answer(QUESTION, answer("I don't know.", abstained=True), retrieves=True)
    assert scores["abstain_wrong"] == 1.0 and scores["accuracy"] == 0.0 and "grounded" not in scores


def test_citations_to_other_documents_lower_precision_and_unsupported_sentences_lower_grounding():
    scores = score_answer(
        QUESTION,
        answer("The cap is EUR 180 [1]. Breakfast is free [2].", citations=["travel.md", "menu.md"],
               unsupported=["Breakfast is free"]),
        retrieves=True,
    )
    assert scores["citation_precision"] == 0.5 and scores["citation_recall"] == 1.0
    assert scores["grounded"] == 0.5


def test_retrieval_scores_equal_the_trec_eval_metrics_on_the_ranked_documents():
    question = Question("q", "?", ("x",), ("b.md", "c.md"))
    scores = score_answer(question, answer("x", hits=["a.md", "b.md", "b.md", "d.md", "c.md"]), retrieves=True, k=3)
    qrels = {"q": {"b.md": 1, "c.md": 1}}
    run = {"q": {"a.md": 1.0, "b.md": 0.5, "d.md": 0.33, "c.md": 0.25}}
    assert scores["retrieval_recall@3"] == recall_at_k(qrels, run, 3)["q"] == 0.5
    assert scores["retrieval_mrr"] == mrr_at_k(qrels, run, 3)["q"] == 0.5
    assert scores["retrieval_ndcg@3"] == ndcg_at_k(qrels, run, 3)["q"]


def test_multiple_choice_accepts_the_choice_text_or_its_letter():
    question = Question("m", "Which loom is fastest?", ("Weft M400",), choices=("Weft S200", "Weft M400"))
    assert chosen_choice("The Weft M400.", question.choices) == "Weft M400"
    assert chosen_choice("B", question.choices) == "Weft M400"
    assert chosen_choice("Both the Weft S200 and the Weft M400", question.choices) is None
    assert score_answer(question, answer("b) it is"), retrieves=False)["mc_accuracy"] == 1.0
    assert score_answer(question, answer("Weft S200"), retrieves=False)["accuracy"] == 0.0


def test_a_cited_title_after_the_answer_is_never_scored_as_the_answer():
    """The house form '{answer}\nSource: {title}': a wrong answer citing a title that holds the gold."""
    question = Question("s", "Who won the award?", ("Shakira",))
    text = "Lady Gaga\nSource: Shakira wins the award"
    assert committed_answer(text) == "Lady Gaga"
    scores = score_answer(question, answer(text), retrieves=False)
    assert scores["accuracy"] == scores["contains"] == scores["exact_match"] == scores["f1"] == 0.0
    right = score_answer(question, answer("Shakira [1]\nSource: Shakira wins the award"), retrieves=False)
    assert right["accuracy"] == right["exact_match"] == right["f1"] == 1.0
    assert not states_answer(text, ("Shakira",))


def test_every_metric_reads_the_same_committed_answer_across_lines():
    """An answer over two lines before its trailer: containment, EM and F1 all read both lines."""
    text = "The cap is\nEUR 180 [1]\nSources: travel.md"
    assert committed_answer(text) == "The cap is EUR 180"
    scores = score_answer(QUESTION, answer(text), retrieves=False)
    assert scores["accuracy"] == 1.0 and 0 < scores["f1"] < 1 and scores["exact_match"] == 0.0
    assert committed_answer("Source: travel.md") == "Source: travel.md"  # a reply that is only a trailer is kept


def test_a_multiple_choice_answer_is_read_before_its_trailer():
    question = Question("m", "Which loom is fastest?", ("Weft M400",), choices=("Weft S200", "Weft M400"))
    assert chosen_choice("Weft M400\nSource: Weft S200 manual", question.choices) == "Weft M400"
    assert score_answer(question, answer("A\nSource: Weft M400 brochure"), retrieves=False)["accuracy"] == 0.0


def test_typographic_quotes_and_dashes_match_their_ascii_forms():
    question = Question("t", "Which show?", ('"The Late Show" \u2013 CBS',))
    scores = score_answer(question, answer("\u201cThe Late Show\u201d - CBS"), retrieves=False)
    assert scores["exact_match"] == scores["accuracy"] == scores["f1"] == 1.0
    apostrophe = Question("a", "Whose rule?", ("O'Brien's rule",))
    assert score_answer(apostrophe, answer("O\u2019Brien\u2019s rule"), retrieves=False)["exact_match"] == 1.0
