"""A generated organisation at scale: 10,000 project records and 5,000 questions with known answers and groups.

    python benchmarks/scale_corpus.py OUT [--documents 10000] [--questions 5000] [--seed 0]

Writes OUT/docs/projects.jsonl (one document a line: id, title, text, groups) and OUT/questions.jsonl in
`tailor compare`'s question format. Every project has an invented name, so a question is answerable from
its own record only; each record states five facts in plain sentences that the question asks back.
Records belong to `public` (70%), `hr` (15%), `finance` (10%) or both (5%); a question is asked as its
record's groups. One question in ten is unanswerable: about a project that does not exist, or a public
caller asking about a restricted record (the right answer is to abstain). Seeded: the same arguments
write the same files.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path

SYLLABLES = ["va", "lor", "ki", "mes", "tan", "dru", "bel", "osk", "ri", "zen", "pal", "quo", "ser", "ul",
             "fen", "gar", "hol", "ist", "jor", "nap", "eth", "cyr", "wol", "ym"]
CITIES = ["Oslo", "Lyon", "Porto", "Graz", "Turku", "Leeds", "Gdansk", "Bilbao", "Ghent", "Brno", "Cork", "Malmo"]
TEAMS = ["logistics", "platform", "retail", "research", "payments", "support", "security", "data"]
PEOPLE = ["Ada Lindqvist", "Bruno Ferreira", "Chiara Rossi", "Dmitri Volkov", "Elif Kaya", "Femi Adeyemi",
          "Greta Novak", "Hiro Tanaka", "Ines Moreau", "Jonas Berg", "Kira Laine", "Luis Ortega"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
GROUPS = [(("public",), 0.70), (("hr",), 0.15), (("finance",), 0.10), (("finance", "hr"), 0.05)]


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    groups: tuple[str, ...]
    facts: dict[str, str]  # fact -> its answer

    def document(self) -> dict[str, object]:
        f = self.facts
        text = (f"Project {self.name} is run by the {f['team']} team from the {f['city']} office. "
                f"Its budget for 2026 is {f['budget']}. The project lead is {f['lead']}. "
                f"Status reviews for {self.name} are held every {f['cadence']}. "
                f"The project started in {f['start']}.")
        return {"id": self.id, "title": f"Project {self.name}", "text": text, "groups": list(self.groups)}


QUESTIONS = {
    "team": "Which team runs Project {name}?",
    "city": "From which office is Project {name} run?",
    "budget": "What is the 2026 budget of Project {name}?",
    "lead": "Who leads Project {name}?",
    "cadence": "How often are status reviews held for Project {name}?",
    "start": "When did Project {name} start?",
}


def names(rng: random.Random, count: int) -> list[str]:
    """`count` distinct invented names of three syllables (24^3 = 13,824 possible), capitalised."""
    chosen: set[str] = set()
    while len(chosen) < count:
        chosen.add("".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize())
    ordered = sorted(chosen)  # not the set's order, which changes with PYTHONHASHSEED
    rng.shuffle(ordered)
    return ordered


def projects(rng: random.Random, count: int) -> list[Project]:
    found = []
    groups, weights = zip(*GROUPS, strict=True)
    for i, name in enumerate(names(rng, count)):
        facts = {
            "team": rng.choice(TEAMS),
            "city": rng.choice(CITIES),
            "budget": f"EUR {rng.randrange(40, 990) * 1000:,}",
            "lead": rng.choice(PEOPLE),
            "cadence": f"{rng.randrange(2, 9)} weeks",
            "start": f"{rng.choice(MONTHS)} {rng.randrange(2018, 2026)}",
        }
        found.append(Project(f"project-{i:05d}", name, rng.choices(groups, weights)[0], facts))
    return found


def questions(rng: random.Random, records: list[Project], count: int, unused_names: list[str]) -> list[dict]:
    """Answerable questions about random records, one in ten unanswerable (an invented or a restricted one)."""
    rows = []
    public = [p for p in records if p.groups == ("public",)]
    restricted = [p for p in records if "public" not in p.groups]
    for i in range(count):
        fact = rng.choice(list(QUESTIONS))
        qid = f"s{i:05d}"
        if i % 20 == 19:  # a project nobody wrote about
            name = unused_names[i % len(unused_names)]
            rows.append({"id": qid, "question": QUESTIONS[fact].format(name=name), "answers": [], "doc_ids": [],
                         "answerable": False, "groups": ["public"]})
        elif i % 10 == 9:  # a public caller asking about a record it may not read
            project = rng.choice(restricted)
            rows.append({"id": qid, "question": QUESTIONS[fact].format(name=project.name), "answers": [],
                         "doc_ids": [project.id], "answerable": False, "groups": ["public"]})
        else:
            project = rng.choice(public if rng.random() < 0.7 else restricted)
            rows.append({"id": qid, "question": QUESTIONS[fact].format(name=project.name),
                         "answers": [project.facts[fact]], "doc_ids": [project.id], "answerable": True,
                         "groups": list(project.groups)})
    return rows


def write_corpus(out: Path, documents: int = 10_000, count: int = 5_000, seed: int = 0) -> dict[str, Path]:
    """OUT/docs/projects.jsonl and OUT/questions.jsonl; returns their paths."""
    rng = random.Random(seed)
    everyone = projects(rng, documents + 100)
    records, unused = everyone[:documents], [p.name for p in everyone[documents:]]
    paths = {"docs": out / "docs", "questions": out / "questions.jsonl"}
    paths["docs"].mkdir(parents=True, exist_ok=True)
    with (paths["docs"] / "projects.jsonl").open("w") as f:
        for project in records:
            f.write(json.dumps(project.document()) + "\n")
    with paths["questions"].open("w") as f:
        for row in questions(rng, records, count, unused):
            f.write(json.dumps(row) + "\n")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--questions", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for name, path in write_corpus(args.out, args.documents, args.questions, args.seed).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
