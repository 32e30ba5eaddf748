"""The real `tailor` CLI, run as a subprocess, on the bundled handbook corpus."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HANDBOOK = REPO / "examples" / "handbook" / "docs"


def tailor(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "tailor.cli", *args], capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def handbook_kb(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    docs = root / "docs"
    shutil.copytree(HANDBOOK, docs)
    kb = root / "kb"
    report = json.loads(tailor("ingest", str(docs), "--kb", str(kb), "--json").stdout)
    assert report["version"] == 1 and not report["errors"]
    return docs, kb, report


def test_ingest_reports_every_document(handbook_kb):
    docs, kb, report = handbook_kb
    n_files = len([p for p in docs.rglob("*") if p.is_file() and p.name != "_meta.yaml"])
    assert len(report["added"]) == n_files
    stats = json.loads(tailor("kb", "stats", "--kb", str(kb), "--json").stdout)
    assert stats["documents"] == n_files and stats["chunks"] == report["chunks"]
    assert {"public", "hr", "finance"} <= set(stats["groups"])


def test_search_respects_access_groups(handbook_kb):
    _, kb, _ = handbook_kb
    listing = json.loads(tailor("kb", "ls", "--kb", str(kb), "--json").stdout)
    restricted = {d["id"] for d in listing if "public" not in d["groups"]}
    assert restricted
    query = "salary band ranges for engineers"
    public = json.loads(tailor("search", query, "--kb", str(kb), "-k", "10", "--json").stdout)
    assert public["hits"] and not {h["chunk"]["doc_id"] for h in public["hits"]} & restricted
    hr = json.loads(tailor("search", query, "--kb", str(kb), "-k", "10", "--as-group", "hr", "--json").stdout)
    assert {h["chunk"]["doc_id"] for h in hr["hits"]} & restricted
    for mode in ("dense", "bm25"):
        out = json.loads(tailor("search", query, "--kb", str(kb), "--mode", mode, "-k", "10", "--json").stdout)
        assert not {h["chunk"]["doc_id"] for h in out["hits"]} & restricted


def test_human_output_lists_hits_with_sources(handbook_kb):
    _, kb, _ = handbook_kb
    out = tailor("search", "return policy", "--kb", str(kb), "-k", "2").stdout
    assert "1. " in out and "score=" in out and "total_ms" in out


def test_partial_ingest_exit_code_names_the_bad_file(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("# Good\n\nThe warehouse opens at seven.\n")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    proc = tailor("ingest", str(docs), "--kb", str(tmp_path / "kb"), "--json", check=False)
    assert proc.returncode == 3
    report = json.loads(proc.stdout)
    assert report["partial"] and report["added"] == ["good.md"]
    assert [Path(e["path"]).name for e in report["errors"]] == ["broken.pdf"]


def test_rm_sync_and_versions(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("a", "b", "c"):
        (docs / f"{name}.txt").write_text(f"Document {name} says the code word is {name * 3}.\n")
    kb = str(tmp_path / "kb")
    tailor("ingest", str(docs), "--kb", kb, "--json")
    assert "removed; version 2" in tailor("kb", "rm", "a.txt", "--kb", kb).stdout
    assert tailor("kb", "rm", "nope.txt", "--kb", kb, check=False).returncode == 1
    (docs / "b.txt").unlink()
    report = json.loads(tailor("ingest", str(docs), "--kb", kb, "--sync", "--json").stdout)
    # a.txt is back (its file still exists); b.txt is gone.
    assert report["added"] == ["a.txt"] and report["removed"] == ["b.txt"]
    versions = json.loads(tailor("kb", "versions", "--kb", kb, "--json").stdout)
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert [d["id"] for d in json.loads(tailor("kb", "ls", "--kb", kb, "--json").stdout)] == ["a.txt", "c.txt"]


@pytest.mark.parametrize("command", [["search", "refunds"], ["kb", "stats"], ["kb", "ls"], ["ask", "Who pays?"]])
def test_reading_commands_refuse_a_missing_knowledge_base_and_create_none(tmp_path, command):
    proc = tailor(*command, "--kb", str(tmp_path / "typo"), check=False)
    assert proc.returncode == 2 and "no knowledge base at" in proc.stderr and "--kb" in proc.stderr
    assert not (tmp_path / "typo").exists()


def test_eval_retrieval_names_the_missing_or_bad_beir_file(tmp_path):
    proc = tailor("eval", "retrieval", "--beir", str(tmp_path / "none"), check=False)
    message = "".join(proc.stderr.replace("│", "").split())  # rich wraps the long path
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{tmp_path}/none/qrels/test.tsv:filenotfound".replace(" ", "") in message


def test_eval_retrieval_on_a_beir_folder(tmp_path):
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    corpus = {
        "d1": "Aspirin reduces the risk of heart attack in adults.",
        "d2": "Vitamin D deficiency is common in northern countries.",
        "d3": "Regular exercise improves sleep quality.",
    }
    (beir / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in corpus.items())
    )
    queries = {"q1": "does aspirin prevent heart attacks", "q2": "exercise and sleep"}
    (beir / "queries.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in queries.items()))
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\n")
    out = json.loads(tailor("eval", "retrieval", "--beir", str(beir), "--kb", str(tmp_path / "kb"), "--json").stdout)
    assert set(out) == {"bm25", "dense", "hybrid"}
    for metrics in out.values():
        assert metrics["ndcg@10"] == pytest.approx(1.0) and metrics["recall@100"] == 1.0


@pytest.mark.parametrize("command, text, problem", [
    (["ingest", "DOCS"], "kb:\n  chunk_tokens: x\n", "kb.chunk_tokens: Extra inputs are not permitted"),
    (["search", "refunds"], "kb: [1,\n", "not valid YAML at line 2"),
    (["ask", "Who pays?"], "ask:\n  top_k: -3\n", "ask.top_k: Input should be greater than or equal to 1 (got -3)"),
    (["serve"], "serve:\n  port: lots\n", "serve.port: Input should be a valid integer"),
    (["data", "build", "--out", "OUT"], "val_fraction: [\n", "not valid YAML"),
])
def test_a_bad_config_file_is_one_clear_error_naming_file_and_field(handbook_kb, tmp_path, command, text, problem):
    docs, kb, _ = handbook_kb
    config = tmp_path / "settings.yaml"
    config.write_text(text)
    args = [str(docs) if a == "DOCS" else str(tmp_path / "out") if a == "OUT" else a for a in command]
    proc = tailor(*args, "--kb", str(kb), "--config", str(config), check=False)
    message = " ".join(proc.stderr.replace("│", " ").split())
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "settings.yaml" in message and problem in message, message
