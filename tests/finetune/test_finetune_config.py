"""Config models: file + flags precedence, YAML and TOML, and every shipped config instantiates."""

from __future__ import annotations

from pathlib import Path

import pytest

from tailor.config_files import ConfigFileError
from tailor.finetune.config import DataConfig, FinetuneConfig, ScratchConfig, load_config
from tailor.finetune.train import METHODS, sft_config, use_cpu

CONFIGS = sorted((Path(__file__).parents[2] / "configs" / "finetune").glob("*.yaml"))


def model_for(path: Path) -> type:
    if path.name.startswith("data-"):
        return DataConfig
    return ScratchConfig if path.name.startswith("base-model-") else FinetuneConfig


def test_flags_override_the_file_and_none_means_not_given(tmp_path):
    path = tmp_path / "ft.yaml"
    path.write_text("base_model: m\ndataset: d\nlora_rank: 8\npacking: false\n")
    config = load_config(FinetuneConfig, path, {"lora_rank": 32, "packing": None, "learning_rate": None})
    assert (config.lora_rank, config.packing, config.learning_rate) == (32, False, 2e-4)
    assert config.runs_dir == config.home / "runs" / "adapter"


def test_toml_and_errors(tmp_path):
    path = tmp_path / "data.toml"
    path.write_text('kb = "kb"\nout = "out"\nformat = "raft"\nraft_oracle_p = 0.7\ngroups = ["hr"]\n')
    config = load_config(DataConfig, path)
    assert (config.format, config.raft_oracle_p, config.groups) == ("raft", 0.7, ["hr"])
    with pytest.raises(ConfigFileError, match=r"data\.toml and command-line options: raft_oracle_p: .* \(got 1\.5\)"):
        load_config(DataConfig, path, {"raft_oracle_p": 1.5})
    with pytest.raises(ConfigFileError, match="unknown_field: Extra inputs are not permitted"):
        load_config(DataConfig, path, {"unknown_field": 1})
    (tmp_path / "list.yaml").write_text("- a\n")
    with pytest.raises(ValueError, match="mapping"):
        load_config(DataConfig, tmp_path / "list.yaml")


def test_home_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TAILOR_HOME", str(tmp_path))
    assert FinetuneConfig(base_model="m", dataset="d").home == tmp_path


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_instantiates(path, tmp_path):
    config = load_config(model_for(path), path)
    if isinstance(config, FinetuneConfig):
        if config.method != "qlora":  # qlora needs CUDA; its config is still validated above
            METHODS[config.method](config)
        args = sft_config(config, tmp_path, validate=True, cpu=use_cpu())  # e.g. save_steps must be a multiple of eval_steps
        metric = config.early_stopping_metric
        assert args.metric_for_best_model == (None if metric == "none" else f"eval_{metric}")
        assert args.load_best_model_at_end == (metric != "none")


def test_the_expected_configs_ship():
    assert {p.name for p in CONFIGS} >= {"lora.yaml", "qlora.yaml", "raft-lora.yaml", "cpt-lora.yaml", "full.yaml",
                                         "scratch-demo.yaml", "base-model-scratch.yaml", "data-handbook-qa.yaml"}


def test_a_bundled_base_model_brings_its_measured_training_settings_and_given_fields_win(tmp_path):
    from tailor.base_models import BUNDLED, DEFAULT_BASE_MODEL

    measured = BUNDLED[DEFAULT_BASE_MODEL].training
    default = FinetuneConfig(dataset=tmp_path)
    assert {name: getattr(default, name) for name in measured} == measured
    path = tmp_path / "ft.yaml"
    path.write_text("dataset: d\nlora_rank: 8\n")
    given = load_config(FinetuneConfig, path, {"epochs": 5})
    assert (given.lora_rank, given.epochs, given.lora_layers) == (8, 5, measured["lora_layers"])
    everywhere = FinetuneConfig(dataset=tmp_path, lora_target_modules=["all-linear"])  # modules given: every block
    assert (everywhere.lora_layers, everywhere.lora_rank) == (None, measured["lora_rank"])
    other = FinetuneConfig(base_model="some/hub-model", dataset=tmp_path)  # not bundled: the plain defaults
    assert (other.lora_layers, other.lora_target_modules, other.epochs) == (None, ["all-linear"], 3.0)


def test_lora_layers_needs_named_modules_and_trains_only_the_top_blocks(tiny_llm_dir, tmp_path):
    with pytest.raises(ValueError, match="lora_layers needs named lora_target_modules"):
        FinetuneConfig(base_model=str(tiny_llm_dir), dataset=tmp_path, lora_layers=1)
    config = FinetuneConfig(base_model=str(tiny_llm_dir), dataset=tmp_path, lora_layers=1,
                            lora_target_modules=["q_proj", "v_proj"])
    from transformers import AutoConfig

    blocks = AutoConfig.from_pretrained(tiny_llm_dir).num_hidden_layers
    assert blocks > 1
    assert METHODS["lora"](config)[0].layers_to_transform == [blocks - 1]
