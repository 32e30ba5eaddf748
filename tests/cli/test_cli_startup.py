"""The CLI loads its heavy libraries only in the commands that use them: `tailor --help`, `kb stats`
or `audit query` must not pay seconds of torch/transformers imports."""

import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "trl", "peft", "sentence_transformers", "accelerate", "datasets")


def test_importing_the_cli_loads_no_model_library():
    code = f"import json, sys, tailor.cli; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(loaded) == []


def test_a_config_with_embedding_devices_still_checks_them():
    import pytest

    from tailor.kb.embedding_pool import parse_devices

    assert parse_devices([]) == []
    assert parse_devices(["cpu", " cpu "]) == ["cpu", "cpu"]
    with pytest.raises(ValueError, match="embed_devices: 'gpu0' is not a torch device"):
        parse_devices(["gpu0"])
