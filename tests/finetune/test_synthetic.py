"""LLM question writer: parsing, malformed output and failures counted; pair validation."""

from __future__ import annotations

from tailor.finetune.qa_records import QAPair, WriterReport
from tailor.finetune.synthetic import LLMQAWriter, make_writer, validate_pair
from tailor.generate.base import Generation, GeneratorError

PASSAGE = "The nightly hotel cap is EUR 180 in standard cities. Trips are booked at least 14 days ahead."


class ScriptedGenerator:
    """Returns the scripted replies in order; an exception in the script is raised instead."""

    name = "scripted"

    def __init__(self, replies: list[str | Exception]) -> None:
        self.replies = list(replies)
        self.prompts: list[str] = []

    def generate(self, messages, config=None) -> Generation:
        self.prompts.append(messages[-1]["content"])
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return Generation(reply, 10, 10, "stop")


def test_llm_writer_parses_json_lines_and_counts_malformed_ones():
    reply = (
        "Here you go:\n"
        '{"question": "What is the nightly hotel cap in standard cities?", "answer": "EUR 180"},\n'
        '{"question": "broken json", "answer": \n'
        '{"answer": "no question"}\n'
        '{"question": "How far ahead are trips booked?", "answer": "at least 14 days"}'
    )
    generator = ScriptedGenerator([reply])
    report = WriterReport()
    pairs = LLMQAWriter(generator).questions(PASSAGE, "Travel", 3, report)
    assert pairs == [
        QAPair("What is the nightly hotel cap in standard cities?", "EUR 180"),
        QAPair("How far ahead are trips booked?", "at least 14 days"),
    ]
    assert report.malformed == 2 and len(report.rejects) == 2
    assert "Write 3 question-answer pairs" in generator.prompts[0] and PASSAGE in generator.prompts[0]


def test_llm_writer_counts_a_reply_without_pairs_and_failed_calls():
    report = WriterReport()
    writer = LLMQAWriter(ScriptedGenerator(["I cannot help with that.", GeneratorError("HTTP 500")]))
    assert writer.questions(PASSAGE, "Travel", 2, report) == []
    assert writer.questions(PASSAGE, "Travel", 2, report) == []
    assert (report.malformed, report.errors) == (1, 1)
    assert report.rejects[1] == "errors: HTTP 500"


def test_llm_paraphrases_strip_numbering_and_need_question_marks():
    report = WriterReport()
    writer = LLMQAWriter(ScriptedGenerator(["1. How much per night?\n- What is the cap?\nnot a question", "nothing"]))
    assert writer.paraphrases("What is the hotel cap?", 5, report) == ["How much per night?", "What is the cap?"]
    assert writer.paraphrases("What is the hotel cap?", 5, report) == [] and report.malformed == 1


def test_validate_pair():
    assert validate_pair(QAPair("What is the nightly hotel cap?", "EUR 180"), PASSAGE) is None
    assert validate_pair(QAPair("Cap?", "EUR 180"), PASSAGE) == "question too short"
    assert validate_pair(QAPair("What is the nightly hotel cap?", " "), PASSAGE) == "empty answer"
    assert validate_pair(QAPair("What is the nightly hotel cap?", "EUR 999"), PASSAGE) == "answer not supported by the passage"
    assert validate_pair(QAPair("Is the cap EUR 180 per night?", "EUR 180"), PASSAGE) == "question gives the answer away"
    assert validate_pair(QAPair("Which cities have the cap?", "standard nightly cities"), PASSAGE) is None  # not contiguous
    assert validate_pair(QAPair("Which cities have the cap?", "standard nice towns"), PASSAGE) == "answer not supported by the passage"


def test_make_writer_picks_offline_or_an_llm_generator(tiny_llm_dir):
    assert make_writer("offline").name == "offline"
    assert make_writer(f"hf:{tiny_llm_dir}").name == f"llm:hf:{tiny_llm_dir}"
