"""OpenAICompatGenerator against a real loopback HTTP server that serves the tiny HF model."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from helpers.openai_server import ServerControl, create_app, serve
from tailor.generate.base import GenerationConfig, GeneratorError
from tailor.generate.hf import HFGenerator
from tailor.generate.openai_compat import OpenAICompatGenerator
from tailor.generate.registry import make_generator

MODEL = "tiny-llama"
MESSAGES = [{"role": "user", "content": "How are the approaches compared?"}]
CONFIG = GenerationConfig(max_new_tokens=16)


@pytest.fixture(scope="module")
def server(tiny_generator: HFGenerator) -> Iterator[tuple[str, ServerControl]]:
    control = ServerControl()
    with serve(create_app(tiny_generator, MODEL, control)) as base_url:
        yield base_url, control


@pytest.fixture
def base_url(server: tuple[str, ServerControl]) -> str:
    return server[0]


@pytest.fixture
def control(server: tuple[str, ServerControl]) -> Iterator[ServerControl]:
    control = server[1]
    vars(control).update(vars(ServerControl()))
    yield control
    vars(control).update(vars(ServerControl()))


def client(base_url: str, **kwargs: object) -> OpenAICompatGenerator:
    return OpenAICompatGenerator(base_url, MODEL, **{"backoff_s": 0.01, **kwargs})


def test_generate_serves_the_model(base_url: str, tiny_generator: HFGenerator) -> None:
    result = client(base_url).generate(MESSAGES, CONFIG)
    assert result == tiny_generator.generate(MESSAGES, CONFIG)
    assert result.tokens_in > 0
    assert (result.tokens_out, result.finish_reason) == (16, "length")


def test_stream_agrees_with_generate(base_url: str) -> None:
    generator = client(base_url)
    pieces = generator.stream(MESSAGES, CONFIG)
    received = []
    with pytest.raises(StopIteration) as done:
        while True:
            received.append(next(pieces))
    expected = generator.generate(MESSAGES, CONFIG)
    assert len(received) > 1
    assert "".join(received) == expected.text
    assert done.value.value == expected


def test_stop_strings_reach_the_server(base_url: str) -> None:
    generator = client(base_url)
    full = generator.generate(MESSAGES, CONFIG).text
    stop = full[5:8]
    config = GenerationConfig(max_new_tokens=16, stop=(stop,))
    result = generator.generate(MESSAGES, config)
    assert (result.text, result.finish_reason) == (full[: full.index(stop)], "stop")
    assert result.tokens_out < 16
    assert "".join(generator.stream(MESSAGES, config)) == result.text


def test_registry_builds_openai_client(base_url: str) -> None:
    generator = make_generator(f"openai:{base_url}#{MODEL}")
    assert generator.name == f"openai:{base_url}#{MODEL}"
    assert make_generator(f"openai:{base_url}", model=MODEL).generate(MESSAGES, CONFIG).text
    with pytest.raises(GeneratorError, match="model"):
        make_generator(f"openai:{base_url}")


def test_429_honours_retry_after(base_url: str, control: ServerControl) -> None:
    control.fail_429, control.retry_after = 1, "1"
    started = time.monotonic()
    assert client(base_url).generate(MESSAGES, CONFIG).text
    assert time.monotonic() - started >= 1.0
    assert control.attempts == 2


def test_500_is_retried(base_url: str, control: ServerControl) -> None:
    control.fail_500 = 2
    assert "".join(client(base_url).stream(MESSAGES, CONFIG))
    assert control.attempts == 3


def test_retries_are_bounded(base_url: str, control: ServerControl) -> None:
    control.fail_500 = -1
    with pytest.raises(GeneratorError, match="HTTP 500 after 3 attempts"):
        client(base_url, max_retries=2).generate(MESSAGES, CONFIG)
    assert control.attempts == 3


def test_wrong_key_fails_without_retry(
    base_url: str, control: ServerControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    control.api_key = "right-key"
    monkeypatch.setenv("TAILOR_TEST_KEY", "wrong-key")
    generator = client(base_url, api_key_env="TAILOR_TEST_KEY")
    with pytest.raises(GeneratorError, match=r"authentication failed for .*check \$TAILOR_TEST_KEY"):
        generator.generate(MESSAGES, CONFIG)
    with pytest.raises(GeneratorError, match="authentication failed"):
        list(generator.stream(MESSAGES, CONFIG))
    assert control.attempts == 2
    monkeypatch.setenv("TAILOR_TEST_KEY", "right-key")
    assert generator.generate(MESSAGES, CONFIG).text


def test_unknown_model_is_not_retried(base_url: str, control: ServerControl) -> None:
    with pytest.raises(GeneratorError, match="404 for model 'no-such-model'"):
        OpenAICompatGenerator(base_url, "no-such-model").generate(MESSAGES, CONFIG)
    assert control.attempts == 1


def test_malformed_response(base_url: str, control: ServerControl) -> None:
    control.malformed = True
    with pytest.raises(GeneratorError, match="malformed response"):
        client(base_url).generate(MESSAGES, CONFIG)


def test_timeout(base_url: str, control: ServerControl) -> None:
    control.delay_s = 1.0
    with pytest.raises(GeneratorError, match="did not answer within 0.2s"):
        client(base_url, timeout_s=0.2).generate(MESSAGES, CONFIG)
    assert control.attempts == 1


def test_closed_port_cannot_connect() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(GeneratorError, match=f"cannot connect to http://127.0.0.1:{port}/v1"):
        client(f"http://127.0.0.1:{port}/v1", max_retries=2).generate(MESSAGES, CONFIG)
    assert time.monotonic() - started >= 0.03
