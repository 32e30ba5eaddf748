"""Templates are data: a prompt template renders in jinja2's sandbox (an escape to Python runs nothing), comes
only from the package or the templates folder, and a tune folder or settings file names files inside its own
folder only (no `..`, no absolute path, no link out)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tailor.config_files import ConfigFileError
from tailor.evaluate.tune.settings_files import read_settings_file, tuned_settings_files
from tailor.finetune import formats
from tailor.generate.prompts import PromptBuilder, template_path

ESCAPES = {
    "cycler": "{{ cycler.__init__.__globals__.os.system('touch MARKER') }}",
    "lipsum": "{{ lipsum.__globals__['os'].system('touch MARKER') }}",
    "subclasses": "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{% if c.__name__ == 'Popen' %}"
                  "{{ c(['touch', 'MARKER']) }}{% endif %}{% endfor %}",
    "namespace-mutation": "{% set n = namespace() %}{{ n.__init__.__globals__ }}{{ cycler.__init__ }}",
}


@pytest.fixture
def templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir()
    monkeypatch.setenv("TAILOR_TEMPLATES", str(folder))
    return folder


@pytest.mark.parametrize("block", ["system", "user"])
@pytest.mark.parametrize("escape", sorted(ESCAPES))
def test_a_sandbox_escape_runs_nothing_and_is_a_named_error(templates: Path, tmp_path: Path, block: str, escape: str):
    marker = tmp_path / "marker"
    payload = ESCAPES[escape].replace("MARKER", str(marker))
    blocks = {"system": "Answer.", "user": "{{ question }}", block: payload}
    (templates / "evil.jinja").write_text("".join(f"{{% block {b} %}}{t}{{% endblock %}}" for b, t in blocks.items()))
    with pytest.raises(ValueError, match=rf"prompt template 'evil.jinja': block {block}: .*(unsafe|no attribute)"):
        PromptBuilder("evil.jinja").build("q?", [])
    assert not marker.exists()


def test_templates_come_from_the_package_or_the_templates_folder_only(templates: Path, tmp_path: Path):
    good = "{% block system %}S{% endblock %}{% block user %}{{ question }}{% endblock %}"
    (templates / "team").mkdir()
    (templates / "team" / "brief.jinja").write_text(good)
    outside = tmp_path / "outside.jinja"
    outside.write_text(good)
    (templates / "link.jinja").symlink_to(outside)
    assert PromptBuilder("team/brief.jinja").build("q?", []).messages[1]["content"] == "q?"
    assert PromptBuilder(str(templates / "team" / "brief.jinja")).system == "S"
    assert PromptBuilder("rag").template_name == "rag" and template_path(formats.FINETUNED_TEMPLATE).is_file()
    for name, problem in (("../outside.jinja", "no absolute path, no '..'"), (str(outside), "outside the package"),
                          ("link.jinja", "leads out of"), ("/etc/passwd.jinja", "outside the package"),
                          ("../../rag", "no prompt template"), ("missing.jinja", "no prompt template")):
        with pytest.raises(ValueError, match=problem):
            PromptBuilder(name)


def test_an_include_through_a_link_out_of_the_folder_is_refused(templates: Path, tmp_path: Path):
    (tmp_path / "secret.txt").write_text("the server's secret")
    (templates / "secret.jinja").symlink_to(tmp_path / "secret.txt")
    (templates / "inc.jinja").write_text(
        "{% block system %}S{% endblock %}{% block user %}{% include 'secret.jinja' %}{% endblock %}")
    with pytest.raises(ValueError, match="secret.jinja"):
        PromptBuilder("inc.jinja").build("q?", [])


def tune_folder(root: Path, chosen: object) -> Path:
    (root / "tune" / "settings").mkdir(parents=True)
    (root / "tune" / "settings" / "rag-1.yaml").write_text("base_model: scratch\narms:\n  - {name: rag, strategy: rag}\n")
    (root / "evil.yaml").write_text("base_model: scratch\narms:\n  - {name: rag, strategy: rag}\n")
    (root / "tune" / "tune.json").write_text(json.dumps({"arms": {"rag": {"chosen": chosen}}}))
    return root / "tune"


@pytest.mark.parametrize("chosen, problem", [
    ("../../evil", "no absolute path, no '..'"),
    (str(Path("/tmp") / "evil"), "no absolute path, no '..'"),
    ("link", "leads out of"),
    (["rag-1"], "expected a front point's name"),
])
def test_tune_json_names_a_settings_file_inside_settings_only(tmp_path: Path, chosen: object, problem: str):
    folder = tune_folder(tmp_path, chosen)
    (folder / "settings" / "link.yaml").symlink_to(tmp_path / "evil.yaml")
    with pytest.raises(ConfigFileError, match=problem) as caught:
        tuned_settings_files(folder)
    assert str(caught.value).startswith(f"{folder / 'tune.json'}: arms.rag.chosen: ")


def test_the_chosen_point_and_a_named_point_resolve_inside_settings(tmp_path: Path):
    folder = tune_folder(tmp_path, "rag-1")
    assert tuned_settings_files(folder) == [(folder / "settings" / "rag-1.yaml").resolve()]
    with pytest.raises(ConfigFileError, match=r"^--tuned-point rag-\.\./\.\./evil: "):
        tuned_settings_files(folder, ["rag-../../evil"])


@pytest.mark.parametrize("arms, problem", [
    ("x", "arms: expected a list, got str"),
    ("[1]", "arms.0: expected a mapping with a name, got 1"),
    ("[{name: rag, template: ../../etc/passwd.jinja}]", "arms.0.template: prompt template: '../../etc/passwd.jinja'"),
    ("[{name: rag, template: /etc/passwd.jinja}]", "arms.0.template: prompt template '/etc/passwd.jinja' is outside"),
])
def test_a_settings_file_names_its_arms_and_templates_by_field(templates: Path, tmp_path: Path, arms: str, problem: str):
    path = tmp_path / "rag-1.yaml"
    path.write_text(f"base_model: scratch\narms: {arms}\n")
    with pytest.raises(ConfigFileError, match="^" + str(path).replace(".", r"\.") + ": ") as caught:
        read_settings_file(path)
    assert problem in str(caught.value), caught.value


def test_serve_settings_naming_an_escaping_template_exits_2_and_runs_nothing(tmp_path: Path):
    """The issue's attack: a settings file whose template escapes the sandbox, run by `tailor serve --settings`
    (its warm-up used to run the command). The real CLI now builds the strategy before serving and refuses."""
    marker, folder = tmp_path / "marker", tmp_path / "templates"
    folder.mkdir()
    (folder / "evil.jinja").write_text("{% block system %}" + ESCAPES["cycler"].replace("MARKER", str(marker))
                                       + "{% endblock %}{% block user %}{{ question }}{% endblock %}")
    settings = tmp_path / "rag-1.yaml"
    settings.write_text("base_model: scratch\narms:\n  - {name: rag, strategy: rag, template: evil.jinja}\n")
    env = {**os.environ, "TAILOR_TEMPLATES": str(folder), "TAILOR_HOME": str(tmp_path / "home"),
           "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "tailor.cli", "serve", "--kb", str(tmp_path / "kb"), "--settings",
                           str(settings), "--port", "1"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert f"{settings}" in done.stderr and "'evil.jinja': block system" in done.stderr and "unsafe" in done.stderr
    assert not marker.exists()
