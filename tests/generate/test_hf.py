"""HFGenerator against a tiny random-init Llama built on the fly."""

from __future__ import annotations

import gc
import shutil
import time
import weakref
from pathlib import Path

import pytest
import torch
from transformers import CLIPVisionConfig

from tailor.generate.base import GenerationConfig, GeneratorError, StopFilter
from tailor.generate.hf import HFGenerator, plain_prompt
from tailor.generate.registry import make_generator

MESSAGES = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "What does the retriever do?"},
]


def test_prompt_uses_chat_template(tiny_generator: HFGenerator) -> None:
    prompt = tiny_generator.build_prompt(MESSAGES)
    assert prompt == "<s><|system|>\nAnswer briefly.\n<|user|>\nWhat does the retriever do?\n<|assistant|>\n"
    tokenizer = tiny_generator._load().tokenizer
    expected_in = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert tiny_generator.generate(MESSAGES, GenerationConfig(max_new_tokens=2)).tokens_in == expected_in


def test_plain_prompt_without_chat_template(tiny_llm_dir: Path, tmp_path: Path) -> None:
    model_dir = Path(shutil.copytree(tiny_llm_dir, tmp_path / "no-template"))
    (model_dir / "chat_template.jinja").unlink()
    generator = HFGenerator(str(model_dir))
    assert generator.build_prompt(MESSAGES) == plain_prompt(MESSAGES)
    assert plain_prompt(MESSAGES).endswith("User: What does the retriever do?\n\nAssistant:")
    assert generator.generate(MESSAGES, GenerationConfig(max_new_tokens=3)).tokens_out == 3


def test_max_new_tokens_gives_length(tiny_generator: HFGenerator) -> None:
    result = tiny_generator.generate(MESSAGES, GenerationConfig(max_new_tokens=7))
    assert result.tokens_out == 7
    assert result.finish_reason == "length"
    assert result.text


def test_stop_string_truncates(tiny_generator: HFGenerator) -> None:
    full = tiny_generator.generate(MESSAGES, GenerationConfig(max_new_tokens=24)).text
    stop = full[8:11]
    assert stop.strip(), full
    config = GenerationConfig(max_new_tokens=24, stop=(stop, "never appears"))
    result = tiny_generator.generate(MESSAGES, config)
    assert result.text == full[: full.index(stop)]
    assert result.finish_reason == "stop"
    assert result.tokens_out < 24
    assert "".join(tiny_generator.stream(MESSAGES, config)) == result.text


def test_eos_stops_generation(eos_llm_dir: Path) -> None:
    result = HFGenerator(str(eos_llm_dir)).generate(MESSAGES, GenerationConfig(max_new_tokens=10))
    assert (result.text, result.tokens_out, result.finish_reason) == ("", 1, "stop")


def test_stream_matches_generate(tiny_generator: HFGenerator) -> None:
    config = GenerationConfig(max_new_tokens=24)
    pieces = tiny_generator.stream(MESSAGES, config)
    received = []
    with pytest.raises(StopIteration) as done:
        while True:
            received.append(next(pieces))
    expected = tiny_generator.generate(MESSAGES, config)
    assert len(received) > 1
    assert "".join(received) == expected.text
    assert done.value.value == expected


def test_abandoned_stream_stops_generation(tiny_generator: HFGenerator) -> None:
    pieces = tiny_generator.stream(MESSAGES, GenerationConfig(max_new_tokens=400))
    next(pieces)
    started = time.monotonic()
    pieces.close()
    assert time.monotonic() - started < 1.0


def test_seeded_sampling_is_reproducible(tiny_generator: HFGenerator) -> None:
    texts = [
        tiny_generator.generate(
            MESSAGES, GenerationConfig(max_new_tokens=12, temperature=1.0, seed=seed)
        ).text
        for seed in (1, 1, 2)
    ]
    assert texts[0] == texts[1]
    assert texts[0] != texts[2]


def test_adapter_changes_output(
    tiny_generator: HFGenerator, tiny_llm_dir: Path, tiny_adapter_dir: Path
) -> None:
    adapted = make_generator(f"hf:{tiny_llm_dir}", adapter=str(tiny_adapter_dir))
    assert isinstance(adapted, HFGenerator)
    assert adapted.name == f"hf:{tiny_llm_dir}+adapter:{tiny_adapter_dir}"
    config = GenerationConfig(max_new_tokens=12)
    assert adapted.generate(MESSAGES, config).text != tiny_generator.generate(MESSAGES, config).text


def test_an_adapter_is_merged_for_inference_and_answers_as_the_unmerged_one(
    tiny_llm_dir: Path, tiny_adapter_dir: Path
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapted = HFGenerator(str(tiny_llm_dir), adapter=str(tiny_adapter_dir))
    merged = adapted._load().model
    assert not isinstance(merged, PeftModel)
    assert not any("lora" in name for name, _ in merged.named_modules())
    unmerged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llm_dir), str(tiny_adapter_dir))
    ids = adapted._load().tokenizer(adapted.build_prompt(MESSAGES), return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.allclose(merged(input_ids=ids).logits, unmerged.eval()(input_ids=ids).logits, atol=1e-5)


def test_missing_model_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(GeneratorError, match="no-such-model"):
        HFGenerator(str(missing)).generate(MESSAGES)


def test_not_a_causal_lm(tmp_path: Path) -> None:
    CLIPVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2
    ).save_pretrained(tmp_path)
    with pytest.raises(GeneratorError, match="causal LM") as error:
        HFGenerator(str(tmp_path)).generate(MESSAGES)
    assert str(tmp_path) in str(error.value)


def test_missing_adapter(tiny_llm_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(GeneratorError, match="adapter"):
        HFGenerator(str(tiny_llm_dir), adapter=str(tmp_path / "no-adapter")).generate(MESSAGES)


@pytest.mark.parametrize(
    ("pieces", "stop", "emitted"),
    [
        (["Hello wo", "rld. Bye"], ("world",), "Hello "),
        (["ab", "c", "d"], ("cx",), "abcd"),
        (["one ", "two"], (), "one two"),
        (["x<", "/", "s> tail"], ("</s>", "zz"), "x"),
    ],
)
def test_stop_filter_across_pieces(pieces: list[str], stop: tuple[str, ...], emitted: str) -> None:
    fil = StopFilter(stop)
    out = "".join(fil.feed(p) for p in pieces) + fil.flush()
    assert out == emitted


def test_unknown_spec() -> None:
    with pytest.raises(GeneratorError, match="hf:"):
        make_generator("llama:foo")


def test_a_prompt_longer_than_the_window_is_cut_in_the_middle(tiny_generator: HFGenerator) -> None:
    window = tiny_generator._load().model.config.max_position_embeddings
    long_context = " ".join(["filler"] * (window * 2))
    messages = [{"role": "system", "content": "SYSTEM RULES"},
                {"role": "user", "content": f"{long_context} QUESTION: what now?"}]
    result = tiny_generator.generate(messages, GenerationConfig(max_new_tokens=8))
    assert result.tokens_in == window - 8 and result.tokens_out == 8
    kept = tiny_generator._generate_kwargs(messages, GenerationConfig(max_new_tokens=8))["input_ids"][0]
    text = tiny_generator._load().tokenizer.decode(kept)
    assert "SYSTEM RULES" in text and text.rstrip().endswith(tiny_generator.build_prompt(messages)[-20:].rstrip())
    with pytest.raises(GeneratorError, match="no room"):
        tiny_generator.generate(messages, GenerationConfig(max_new_tokens=window))


QUESTIONS = [
    "What does the retriever do?",
    "Why should answers cite their sources and stay short when the documents say little?",
    "Which models need a GPU?",
]


def conversation(question: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": question}]


@pytest.mark.parametrize("batch_size", [1, 2, 8])
def test_batched_generation_equals_one_at_a_time(tiny_llm_dir: Path, batch_size: int) -> None:
    generator = HFGenerator(str(tiny_llm_dir), device="cpu", batch_size=batch_size)
    config = GenerationConfig(max_new_tokens=6)
    single = [generator.generate(conversation(q), config) for q in QUESTIONS]
    batched = generator.generate_batch([conversation(q) for q in QUESTIONS], config)
    assert [b.text for b in batched] == [s.text for s in single]  # left padding changes nothing, in input order
    assert [b.tokens_in for b in batched] == [s.tokens_in for s in single]
    assert [b.tokens_out for b in batched] == [s.tokens_out for s in single]


def test_batched_row_that_ends_early_is_cut_at_its_eos(eos_llm_dir: Path) -> None:
    generator = HFGenerator(str(eos_llm_dir), device="cpu")
    results = generator.generate_batch([conversation(q) for q in QUESTIONS], GenerationConfig(max_new_tokens=10))
    assert all(r.finish_reason == "stop" and r.tokens_out == 1 and r.text == "" for r in results)


def test_int8_quantises_the_decoder_linear_layers(tiny_llm_dir: Path) -> None:
    generator = HFGenerator(str(tiny_llm_dir), device="cpu", quantize="int8")
    result = generator.generate(MESSAGES, GenerationConfig(max_new_tokens=4))
    assert result.tokens_out == 4
    model = generator._load().model
    linear = [type(m) for m in model.model.modules() if type(m).__name__ == "Linear"]
    assert linear and all(t.__module__.startswith("torch.ao.nn.quantized.dynamic") for t in linear)
    assert type(model.lm_head).__module__.startswith("torch.nn")  # the tied output layer stays fp32
    assert generator.name.endswith("+int8")


def test_bf16_casts_every_weight_and_generates(tiny_llm_dir: Path) -> None:
    generator = HFGenerator(str(tiny_llm_dir), device="cpu", quantize="bf16")
    result = generator.generate(MESSAGES, GenerationConfig(max_new_tokens=4))
    assert result.tokens_out == 4
    assert {p.dtype for p in generator._load().model.parameters()} == {torch.bfloat16}
    assert generator.name.endswith("+bf16")


def test_unknown_quantisation_is_refused(tiny_llm_dir: Path) -> None:
    with pytest.raises(GeneratorError, match="unknown quantize"):
        HFGenerator(str(tiny_llm_dir), quantize="int3")


def test_generators_of_the_same_model_share_one_loaded_copy_while_either_holds_it(
        tiny_llm_dir: Path, tiny_adapter_dir: Path) -> None:
    first, second = HFGenerator(str(tiny_llm_dir)), HFGenerator(str(tiny_llm_dir))
    assert first._load().model is second._load().model
    adapted = HFGenerator(str(tiny_llm_dir), adapter=str(tiny_adapter_dir))
    halved = HFGenerator(str(tiny_llm_dir), quantize="bf16")
    assert len({id(g._load().model) for g in (first, adapted, halved)}) == 3  # another adapter or precision
    loaded = weakref.ref(halved._load())
    del halved
    gc.collect()
    assert loaded() is None  # no generator holds it: it is not kept alive by the sharing
