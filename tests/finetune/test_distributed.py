"""The recipe under real launchers: two CPU processes (gloo) train the tiny model and publish one
registry version in the single-process format; every shipped accelerate config passes accelerate's
own launcher checks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from peft import PeftModel
from safetensors.torch import load_file
from test_resume import flags
from transformers import AutoModelForCausalLM

from tailor.finetune.config import FinetuneConfig
from tailor.finetune.registry import AdapterEntry, AdapterRegistry
from tailor.finetune.train import finetune

ACCELERATE_CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "accelerate"
FIELDS = dict(max_steps=4, eval_steps=2, save_steps=2, batch_size=4, max_length=128, eval_samples=2,
              eval_max_new_tokens=4, warmup=0, early_stopping_patience=0, logging_steps=1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Two processes on this machine; with no GPU, the recipe runs them on CPU over gloo. The rendezvous
# port is a free one, not the default 29500 that other runs on the machine may hold.
LAUNCHERS = {
    "accelerate": lambda port: [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                                str(ACCELERATE_CONFIGS / "ddp.yaml"), "--num_processes", "2", "--main_process_port",
                                str(port), "-m", "tailor.cli"],
    "torchrun": lambda port: [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                              str(port), "-m", "tailor.cli"],
}


def key_paths(value: object, prefix: str = "") -> set[str]:
    if not isinstance(value, dict):
        return {prefix}
    return {path for key, inner in value.items() for path in key_paths(inner, f"{prefix}/{key}")}


def layout(entry: AdapterEntry) -> list[str]:
    """Files of a registry version; TensorBoard event files by the process and sequence number that wrote them."""
    names = []
    for path in sorted(entry.path.rglob("*")):
        if path.is_file():
            relative = path.relative_to(entry.path).as_posix()
            names.append(relative.split(".out.tfevents.")[0] + ".*" if ".out.tfevents." in relative else relative)
    return sorted(names)


def writer_pids(entry: AdapterEntry) -> set[str]:
    return {p.name.split(".")[-2] for p in (entry.path / "tensorboard").iterdir()}


@pytest.fixture(scope="module")
def single_process(tiny_llm_dir, facts_dataset, tmp_path_factory) -> AdapterEntry:
    home = tmp_path_factory.mktemp("single-process")
    return finetune(FinetuneConfig(base_model=str(tiny_llm_dir), dataset=facts_dataset, home=home, name="one",
                                   **FIELDS)).entry


@pytest.mark.parametrize("launched_by", ["accelerate", pytest.param("torchrun", marks=pytest.mark.slow)])
def test_two_processes_publish_one_version_in_the_single_process_format(
    launched_by, single_process, tiny_llm_dir, facts_dataset, cli_env
):
    command = [*LAUNCHERS[launched_by](free_port()), "finetune", "--base-model", str(tiny_llm_dir), "--dataset", str(facts_dataset),
               "--name", "two", *flags(FIELDS)]
    done = subprocess.run(command, env=cli_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    home = Path(cli_env["TAILOR_HOME"])

    (entry,) = AdapterRegistry(home).entries()  # published once, by the main process
    assert entry.ref == "two@1" and not (home / "runs" / "two").exists()
    assert done.stdout.count("two@1") == 1  # only the main process prints its summary
    assert done.stdout.count("Training") == 1  # ... and draws the progress panel

    manifest, reference = entry.manifest, single_process.manifest
    assert manifest["cost"]["processes"] == 2 and reference["cost"]["processes"] == 1
    assert manifest["cost"]["steps"] == reference["cost"]["steps"] == FIELDS["max_steps"]
    # Each rank trained on its own shard of every global batch: twice the tokens in as many steps.
    assert manifest["cost"]["train_tokens"] == 2 * reference["cost"]["train_tokens"]
    assert key_paths(manifest) == key_paths(reference)
    assert layout(entry) == layout(single_process)
    assert len(writer_pids(entry)) == 1  # TensorBoard written by one process
    sessions = {json.loads(line)["session"] for line in (entry.path / "metrics.jsonl").read_text().splitlines()}
    assert len(sessions) == 1  # so is the metrics log

    weights = load_file(str(entry.weights / "adapter_model.safetensors"))
    assert weights.keys() == load_file(str(single_process.weights / "adapter_model.safetensors")).keys()
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llm_dir), str(entry.weights))
    loaded = {name: param for name, param in model.named_parameters() if "lora_" in name}
    assert len(loaded) == len(weights) and all(p.abs().sum() > 0 for name, p in loaded.items() if "lora_B" in name)


def launch_settings(config: Path) -> tuple[object, dict[str, str]]:
    """What `accelerate launch --config_file CONFIG` would hand its processes: the parsed arguments
    and the environment (accelerate's own validation and env builders, without starting anything)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    args = launch_command_parser().parse_args(["--config_file", str(config), "-m", "tailor.cli"])
    args, defaults, _ = _validate_launch_command(args)
    if args.use_deepspeed:
        args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)
        return args, prepare_deepspeed_cmd_env(args)[1]
    return args, prepare_multi_gpu_env(args)


@pytest.mark.parametrize("name", sorted(p.name for p in ACCELERATE_CONFIGS.glob("*.yaml")))
def test_shipped_accelerate_configs_instantiate(name):
    from accelerate.utils import DeepSpeedPlugin, FullyShardedDataParallelPlugin

    args, env = launch_settings(ACCELERATE_CONFIGS / name)
    assert env["ACCELERATE_MIXED_PRECISION"] == "no"  # precision is the recipe's `bf16` field
    with mock.patch.dict(os.environ, env):
        if args.use_deepspeed:  # the plugin builds the DeepSpeed config without deepspeed installed
            plugin = DeepSpeedPlugin()
            stage = plugin.deepspeed_config["zero_optimization"]["stage"]
            assert name == f"deepspeed-zero{stage}.yaml"
            assert plugin.deepspeed_config["gradient_accumulation_steps"] == "auto"  # from `grad_accum`
            assert plugin.deepspeed_config["train_micro_batch_size_per_gpu"] == "auto"  # from `batch_size`
            # ZeRO-3 must gather 16-bit weights at save time, or the registry gets no PEFT folder.
            assert plugin.zero3_save_16bit_model is (stage == 3)
        elif args.use_fsdp:
            plugin = FullyShardedDataParallelPlugin()
            assert plugin.fsdp_version == 2 and str(plugin.state_dict_type).endswith("FULL_STATE_DICT")
        else:
            assert args.multi_gpu and name == "ddp.yaml"
