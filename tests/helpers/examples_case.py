"""A small labelled-examples folder (three intents, a restricted group, a new intent as the change set)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

MESSAGES = {
    "refund": [
        "I want my money back for the broken kettle", "please refund my last order", "can I get a refund",
        "the blender arrived cracked, I'd like my money returned", "how do I return this for a refund",
        "refund me for the duplicate charge", "I was charged twice, send the money back",
        "return and refund the shoes please", "money back for the cancelled order?", "I need a refund today",
        "where is my refund for the returned lamp", "refund the gift card balance",
    ],
    "delivery": [
        "where is my parcel", "my package has not arrived yet", "when will the order be delivered",
        "the courier never came", "tracking says delivered but nothing here", "delivery is three days late",
        "can you change the delivery address", "is my parcel lost in transit", "what time does the van arrive",
        "the delivery driver left it at the wrong house", "how long does shipping take",
        "order still not shipped after a week",
    ],
    "password": [
        "I forgot my password", "cannot log in to my account", "reset my password please",
        "the login page says wrong password", "locked out of my account after three tries",
        "how do I change my password", "the reset email never arrives", "two factor code not working",
        "my account is locked", "I can't sign in on the app", "password reset link expired",
        "login keeps failing",
    ],
}
RESTRICTED = [  # enterprise customers: their messages are retrieved only for callers in that group
    ("ent1", "our enterprise contract invoice needs a credit note", "refund"),
    ("ent2", "enterprise fleet order delivery to our warehouse is late", "delivery"),
    ("ent3", "enterprise single sign-on rejects all our staff", "password"),
]
NEW_INTENT = [
    "is my battery part of the recall", "the recall notice mentions my battery model",
    "how do I return a recalled battery", "battery recall: what should I do",
    "my charger model is on the recall list", "got a recall letter for the battery pack",
    "is the recall covering the spare battery", "swap my recalled battery",
]


def rows() -> list[dict]:
    found = [{"id": f"{intent[:3]}{n:02d}", "input": text, "intent": intent}
             for intent, texts in MESSAGES.items() for n, text in enumerate(texts)]
    found += [{"id": i, "input": text, "intent": intent, "groups": ["enterprise"]} for i, text, intent in RESTRICTED]
    return found


def write_folder(root: Path, config: dict, bad_line: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r) for r in rows()]
    if bad_line:
        lines.insert(5, '{"id": "broken", "input": 42, "intent": "refund"}')
    (root / "examples.jsonl").write_text("\n".join(lines) + "\n")
    (root / "changes").mkdir(exist_ok=True)
    (root / "changes" / "examples.jsonl").write_text(
        "\n".join(json.dumps({"id": f"new{n}", "input": t, "intent": "battery_recall"})
                  for n, t in enumerate(NEW_INTENT)) + "\n")
    (root / "compare.yaml").write_text(yaml.safe_dump(config))
    return root
