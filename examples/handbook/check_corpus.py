"""Self-check for the Northwind Loom handbook example corpus.

Run from anywhere:  python examples/handbook/check_corpus.py
Dependencies: standard library, PyYAML, pypdf. Exits non-zero on the first failing run.
"""

from __future__ import annotations

import html
import json
import re
import sys
from collections import Counter
from pathlib import Path

import yaml
from pypdf import PdfReader

HERE = Path(__file__).resolve().parent
DOCS = HERE / "docs"
CHANGES = HERE / "changes"
SUFFIXES = {".md", ".html", ".txt", ".pdf"}
GROUPS = {"public", "hr", "finance", "engineering"}

MIN = {
    "docs": 32,
    "md": 14,
    "html": 9,
    "txt": 6,
    "pdf": 3,
    "questions": 85,
    "unanswerable": 18,
    "paraphrases": 15,
    "restricted": 8,
    "hr_docs": 4,
    "finance_docs": 3,
    "changed_docs": 5,
    "linked_changes": 5,
}

errors: list[str] = []


def fail(msg: str) -> None:
    errors.append(msg)


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def doc_text(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return "\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)
    raw = path.read_text(encoding="utf-8")
    if suffix == ".html":
        raw = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", raw)
        raw = re.sub(r"(?s)<[^>]+>", " ", raw)
        raw = html.unescape(raw)
    return raw


def main_text(path: Path) -> str:
    """Roughly the visible article text (for word counts): <main> only for HTML."""
    if path.suffix == ".html":
        m = re.search(r"(?is)<main\b.*?</main>", path.read_text(encoding="utf-8"))
        return doc_text_from_html(m.group(0) if m else "")
    return doc_text(path)


def doc_text_from_html(fragment: str) -> str:
    fragment = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", fragment)
    return html.unescape(re.sub(r"(?s)<[^>]+>", " ", fragment))


def load_jsonl(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                fail(f"{path.name}:{n}: invalid JSON ({exc})")
    return rows


def main() -> int:
    # ---- documents -------------------------------------------------------
    docs = {
        p.relative_to(DOCS).as_posix(): p
        for p in sorted(DOCS.rglob("*"))
        if p.is_file() and p.suffix in SUFFIXES
    }
    texts = {doc_id: norm(doc_text(p)) for doc_id, p in docs.items()}
    by_ext = Counter(Path(d).suffix.lstrip(".") for d in docs)
    if len(docs) < MIN["docs"]:
        fail(f"only {len(docs)} documents")
    for ext in ("md", "html", "txt", "pdf"):
        if by_ext[ext] < MIN[ext]:
            fail(f"only {by_ext[ext]} .{ext} documents (need {MIN[ext]})")
    for doc_id, p in docs.items():
        words = len(main_text(p).split())
        if not 150 <= words <= 700:
            fail(f"{doc_id}: {words} words (expected 150-700)")
        if p.suffix == ".html":
            raw = p.read_text(encoding="utf-8").lower()
            for tag in ("<nav", "<script", "<style", "<footer", "<main"):
                if tag not in raw:
                    fail(f"{doc_id}: missing {tag}> noise/structure")
    pdf_pages = {d: len(PdfReader(str(p)).pages) for d, p in docs.items() if p.suffix == ".pdf"}
    if not any(n >= 2 for n in pdf_pages.values()):
        fail("no PDF spans 2+ pages")

    # ---- access metadata -------------------------------------------------
    meta = yaml.safe_load((DOCS / "_meta.yaml").read_text(encoding="utf-8"))
    default_groups = meta["defaults"]["groups"]
    doc_groups = {d: list(default_groups) for d in docs}
    for key, entry in (meta.get("files") or {}).items():
        if key not in docs:
            fail(f"_meta.yaml lists missing file {key}")
            continue
        entry = entry or {}
        extra = set(entry) - {"groups", "title", "metadata"}
        if extra:
            fail(f"_meta.yaml {key}: unknown keys {sorted(extra)}")
        if "groups" in entry:
            doc_groups[key] = list(entry["groups"])
        if not set(doc_groups[key]) <= GROUPS:
            fail(f"_meta.yaml {key}: unknown groups {doc_groups[key]}")
    n_hr = sum("hr" in g and "public" not in g for g in doc_groups.values())
    n_fin = sum("finance" in g and "public" not in g for g in doc_groups.values())
    if n_hr < MIN["hr_docs"] or n_fin < MIN["finance_docs"]:
        fail(f"restricted documents: hr={n_hr}, finance={n_fin}")

    # ---- questions -------------------------------------------------------
    questions = load_jsonl(HERE / "questions.jsonl")
    ids = [q["id"] for q in questions]
    if len(set(ids)) != len(ids):
        fail("duplicate question ids")
    by_id = {q["id"]: q for q in questions}
    fields = {"id", "question", "answers", "doc_ids", "answerable", "paraphrase_of", "groups"}
    restricted = 0
    for q in questions:
        if set(q) != fields:
            fail(f"{q.get('id')}: fields {sorted(q)}")
            continue
        if not q["answerable"]:
            if q["answers"] or q["doc_ids"]:
                fail(f"{q['id']}: unanswerable but has answers/doc_ids")
            continue
        if not q["answers"] or not q["doc_ids"]:
            fail(f"{q['id']}: answerable without answers/doc_ids")
            continue
        missing = [d for d in q["doc_ids"] if d not in docs]
        if missing:
            fail(f"{q['id']}: unknown doc_ids {missing}")
            continue
        if not any(norm(q["answers"][0]) in texts[d] for d in q["doc_ids"]):
            fail(f"{q['id']}: first answer {q['answers'][0]!r} not found in {q['doc_ids']}")
        needed = set().union(*(doc_groups[d] for d in q["doc_ids"]))
        if not set(q["groups"]) & needed or not set(q["groups"]) <= GROUPS:
            fail(f"{q['id']}: groups {q['groups']} do not match documents {sorted(needed)}")
        if "public" not in needed:  # answerable only from restricted documents
            restricted += 1
        if q["paraphrase_of"] is not None:
            orig = by_id.get(q["paraphrase_of"])
            if orig is None or orig["answers"] != q["answers"] or orig["question"] == q["question"]:
                fail(f"{q['id']}: bad paraphrase_of {q['paraphrase_of']}")
    n_unans = sum(not q["answerable"] for q in questions)
    n_para = sum(q["paraphrase_of"] is not None for q in questions)
    for name, value in (
        ("questions", len(questions)),
        ("unanswerable", n_unans),
        ("paraphrases", n_para),
        ("restricted", restricted),
    ):
        if value < MIN[name]:
            fail(f"only {value} {name} (need {MIN[name]})")
    covered = {d for q in questions for d in q["doc_ids"]}
    if covered != set(docs):
        fail(f"documents without questions: {sorted(set(docs) - covered)}")

    # ---- change set ------------------------------------------------------
    changed = {
        p.relative_to(CHANGES / "docs").as_posix(): p
        for p in sorted((CHANGES / "docs").rglob("*"))
        if p.is_file()
    }
    for rel, p in changed.items():
        if rel not in docs:
            fail(f"changes/docs/{rel} has no original in docs/")
        elif p.read_bytes() == docs[rel].read_bytes():
            fail(f"changes/docs/{rel} is identical to the original")
    if len(changed) < MIN["changed_docs"]:
        fail(f"only {len(changed)} changed documents")
    changes = load_jsonl(CHANGES / "questions.jsonl")
    linked = 0
    for c in changes:
        for d in c["doc_ids"]:
            if d not in changed:
                fail(f"{c['id']}: {d} not in changes/docs")
                continue
            new_text = norm(doc_text(changed[d]))
            if norm(c["answers"][0]) not in new_text:
                fail(f"{c['id']}: new answer {c['answers'][0]!r} missing from changed {d}")
            for old in c["old_answers"]:
                if norm(old) in new_text:
                    fail(f"{c['id']}: old answer {old!r} still present in changed {d}")
            if norm(c["old_answers"][0]) not in texts.get(d, ""):
                fail(f"{c['id']}: old answer {c['old_answers'][0]!r} missing from original {d}")
        if c.get("question_id") is not None:
            orig = by_id.get(c["question_id"])
            if orig is None or orig["answers"][0] != c["old_answers"][0]:
                fail(f"{c['id']}: question_id {c['question_id']} does not match old answers")
            else:
                linked += 1
    if linked < MIN["linked_changes"]:
        fail(f"only {linked} change questions link to questions.jsonl")

    print(f"documents: {len(docs)} ({dict(sorted(by_ext.items()))}); PDF pages: {pdf_pages}")
    print(f"restricted documents: hr={n_hr}, finance={n_fin}")
    print(
        f"questions: {len(questions)} (unanswerable={n_unans}, paraphrases={n_para}, restricted={restricted})"
    )
    print(f"changes: {len(changed)} documents, {len(changes)} questions ({linked} linked)")
    if errors:
        print(f"\n{len(errors)} problem(s):")
        for e in errors:
            print("  -", e)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
