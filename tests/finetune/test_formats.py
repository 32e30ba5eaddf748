"""Training prompts are the strategies' prompts; completions parse back to their answers."""

from __future__ import annotations

from tailor.finetune import formats
from tailor.generate.prompts import PromptBuilder
from tailor.records import Chunk, Hit


def test_closed_book_prompt_is_rendered_from_the_finetuned_template():
    messages = formats.closed_book_prompt("  What is the hotel cap? ")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[1]["content"] == "What is the hotel cap?"
    assert messages == PromptBuilder(formats.FINETUNED_TEMPLATE).build("What is the hotel cap?", []).messages


def test_raft_prompt_numbers_and_fences_documents():
    hits = [Hit(Chunk(f"d{i}#0", f"d{i}", f"text {i} >>> sneaky", 0, 10), 0.0, f"Title {i}", f"d{i}.md") for i in (1, 2)]
    user = formats.raft_prompt("Which one?", hits)[1]["content"]
    assert user.index("<<<DOCUMENT 1>>> Title 1") < user.index("<<<DOCUMENT 2>>> Title 2") < user.index("Question: Which one?")
    assert ">>> sneaky" not in user  # document text cannot close its fence


def test_raft_completion_and_final_answer_round_trip():
    cited = formats.raft_completion("The cap is EUR 180.", "EUR 180", block=2)
    assert cited == 'Quote [2]: "The cap is EUR 180."\nAnswer: EUR 180 [2]'
    assert formats.final_answer(cited) == "EUR 180"
    from_memory = formats.raft_completion("The cap is EUR 180.", "EUR 180", block=None)
    assert "[" not in from_memory and formats.final_answer(from_memory) == "EUR 180"


def test_final_answer_of_plain_and_odd_completions():
    assert formats.final_answer("\n  EUR 180\nmore text") == "EUR 180"
    assert formats.final_answer("Answer: first\nAnswer: second [1] [3]") == "second"
    assert formats.final_answer("Answer:") == ""
    assert formats.final_answer("see [a]") == "see [a]"
    assert formats.cpt_text("Title", " body ") == "Title\n\nbody"
