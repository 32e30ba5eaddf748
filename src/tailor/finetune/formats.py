"""How a training example looks to the model: the prompts and completions of each data format.

Training, evaluation during training and the `finetuned`/`hybrid` answer strategies all build
their prompts here, so an adapter is always asked questions the way it was taught them.

closed book (format `qa`)
    user: the question                          assistant: the answer
RAFT (format `raft`, Zhang et al. 2024)
    user: numbered documents, then the question  assistant: a quote from the oracle document, then a
                                                 final line "Answer: <answer>"
continued pre-training (format `cpt`)
    plain text: "<title>\n\n<chunk text>", trained on every token
"""

from __future__ import annotations

from collections.abc import Sequence

from tailor.generate.base import Message

ANSWER_PREFIX = "Answer:"
RAFT_INSTRUCTION = (
    "Answer the question using the documents above. Quote the sentence that supports the answer, "
    f"then give the answer on a last line that starts with '{ANSWER_PREFIX}'."
)


def closed_book_prompt(question: str) -> list[Message]:
    """The question alone: the adapter must know the answer."""
    return [{"role": "user", "content": question.strip()}]


def raft_prompt(question: str, passages: Sequence[tuple[str, str]]) -> list[Message]:
    """Numbered (title, text) passages, the question, and the instruction to quote and answer."""
    blocks = [f"[{i}] {title}\n{text.strip()}" for i, (title, text) in enumerate(passages, start=1)]
    body = "\n\n".join(blocks) if blocks else "(no documents)"
    return [{"role": "user", "content": f"Documents:\n\n{body}\n\nQuestion: {question.strip()}\n\n{RAFT_INSTRUCTION}"}]


def raft_completion(quote: str, answer: str) -> str:
    """The chain of thought RAFT trains on: a verbatim quote, then the final answer line."""
    return f'Quote: "{quote.strip()}"\n{ANSWER_PREFIX} {answer.strip()}'


def cpt_text(title: str, text: str) -> str:
    return f"{title.strip()}\n\n{text.strip()}" if title.strip() else text.strip()


def assistant(content: str) -> list[Message]:
    return [{"role": "assistant", "content": content}]


def final_answer(text: str) -> str:
    """The answer inside a completion: the text after the last 'Answer:', else the first non-empty line."""
    if ANSWER_PREFIX in text:
        text = text.rsplit(ANSWER_PREFIX, 1)[1]
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
