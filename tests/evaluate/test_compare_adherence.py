from tailor.evaluate.compare.adherence import violations
from tailor.evaluate.compare.config import FormatSpec


def test_every_declared_rule_is_checked():
    spec = FormatSpec(regex=r"[^\n]+\nSource: .+", max_words=20, required_phrases=["source:"],
                      forbidden_phrases=["I think"])
    assert violations("The cap is EUR 180.\nSource: Travel Policy", spec) == []
    assert any("does not match" in v for v in violations("The cap is EUR 180.", spec))
    assert any("forbidden" in v for v in violations("I think it is 180.\nSource: Travel", spec))
    assert any("words" in v for v in violations(" ".join(["word"] * 30) + "\nSource: x", spec))


def test_json_schema_and_sentence_limits():
    spec = FormatSpec(json_schema={"type": "object", "required": ["answer"]})
    assert violations('{"answer": "EUR 180"}', spec) == []
    assert violations("EUR 180", spec) == ["not JSON"]
    assert "JSON schema" in violations('{"value": 1}', spec)[0]
    one = FormatSpec(max_sentences=1)
    assert violations("One sentence here.", one) == []
    assert violations("One sentence. And another one.", one)
