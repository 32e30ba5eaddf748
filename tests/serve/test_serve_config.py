import pytest

from tailor.serve.config import ServeSettings


def test_one_file_configures_the_server_answers_retrieval_and_audit_and_flags_win(tmp_path):
    path = tmp_path / "tailor.yaml"
    path.write_text(
        "serve:\n  port: 9000\n  home: /srv/tailor\n  limits: {rate_per_minute: 30, burst: 5}\n"
        "ask:\n  top_k: 8\nkb:\n  retrieval: {mode: bm25}\naudit:\n  question: drop\n"
    )
    settings = ServeSettings.from_file(path, {"port": 9100, "host": None})
    assert (settings.serve.port, settings.serve.host) == (9100, "127.0.0.1")
    assert settings.serve.limits.rate_per_minute == 30 and settings.serve.keys_file.as_posix() == "/srv/tailor/keys.json"
    assert settings.ask.top_k == 8 and settings.kb.retrieval.mode == "bm25" and settings.audit.question == "drop"
    assert ServeSettings.from_file(None).serve.cors_origins == []


@pytest.mark.parametrize("text, problem", [
    ("- a list\n", "expected a mapping"), ("serve: {}\nextra: {}\n", "unknown section"),
    ("serve:\n  limits: {burst: 0}\n", "burst"), ("ask:\n  top_k: 0\n", "top_k"), ("serve:\n  hots: x\n", "hots"),
])
def test_bad_files_are_refused_naming_the_field(tmp_path, text, problem):
    path = tmp_path / "tailor.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=problem):
        ServeSettings.from_file(path)


def test_compute_threads_also_reads_the_former_torch_threads_key():
    from tailor.serve.config import ServeConfig

    assert ServeConfig().compute_threads == 1
    assert ServeConfig.model_validate({"compute_threads": 3}).compute_threads == 3
    assert ServeConfig.model_validate({"torch_threads": 2}).compute_threads == 2


def test_questions_are_embedded_on_onnx_runtime_unless_configured_otherwise():
    from tailor.serve.config import ServeConfig

    assert ServeConfig().query_runtime == "onnx"
    assert ServeConfig.model_validate({"query_runtime": "torch"}).query_runtime == "torch"
