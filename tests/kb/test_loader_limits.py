"""Bounded inputs: size limits, zip bombs and every skipped folder entry named with its reason (issue 16).

Every case builds real files in tmp_path and checks that the good file beside the bad one still loads.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from helpers.documents import small_docx
from tailor.kb.loaders import base, load_documents, load_file
from tailor.kb.loaders.base import LoadFailure, check_zip
from tailor.records import LoadError

MB = 1024 * 1024
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_non_root = pytest.mark.skipif(AS_ROOT, reason="running as root: permission checks never fail for root")


def good(folder: Path) -> Path:
    path = folder / "good.txt"
    path.write_text("Good file\nIt is loaded.\n")
    return path


def reasons(errors: list[LoadError]) -> dict[str, str]:
    return {e.path: e.reason for e in errors}


def loaded_ids(folder: Path) -> tuple[list[str], dict[str, str]]:
    docs, errors = load_documents([folder])
    return [d.id for d in docs], reasons(errors)


def make_docx(path: Path) -> Path:
    path.write_bytes(small_docx())
    return path


def make_bomb(path: Path, zeros: int, entries: int = 0) -> Path:
    """A docx-named zip whose word/document.xml is `zeros` zero bytes, written in chunks, zip64."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        for n in range(entries):
            archive.writestr(f"word/media/{n}.xml", "")
        if zeros:
            chunk = bytes(16 * MB)
            with archive.open("word/document.xml", "w", force_zip64=True) as member:
                for _ in range(zeros // len(chunk)):
                    member.write(chunk)
    return path


# ---------------------------------------------------------------- size limit


def test_file_over_the_size_limit_is_refused_by_stat_and_the_rest_load(tmp_path: Path, monkeypatch):
    good(tmp_path)
    big = tmp_path / "big.md"
    big.write_bytes(b"x" * 3000)
    monkeypatch.setattr(base, "MAX_FILE_BYTES", 2000)
    read, original = [], base.read_bytes
    monkeypatch.setattr(base, "read_bytes", lambda path, *a: read.append(Path(path)) or original(path, *a))
    ids, errors = loaded_ids(tmp_path)
    assert ids == ["good.txt"]
    assert errors == {
        str(big): "file too large: 3,000 bytes (0.0 MB), over the limit of 2,000 bytes (0.0 MB)"
    }
    assert read == [tmp_path / "good.txt"]  # the big file was never opened


def test_size_limit_is_a_parameter_and_applies_to_every_format(tmp_path: Path):
    files = [make_docx(tmp_path / "a.docx")]
    for name in ("b.txt", "c.md", "d.html", "e.jsonl"):
        files.append(tmp_path / name)
        files[-1].write_text('{"id": "x", "text": "' + "y" * 5000 + '"}\n')
    limit = 1000
    for path in files:
        [error] = load_file(path, max_file_bytes=limit)
        assert isinstance(error, LoadError) and error.path == str(path)
        assert error.reason.startswith("file too large: ") and "limit of 1,000 bytes" in error.reason
    assert not isinstance(load_file(files[1], max_file_bytes=10_000)[0], LoadError)


def test_a_larger_limit_reaches_the_readers_too(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(base, "MAX_FILE_BYTES", 100)
    path = tmp_path / "long.txt"
    path.write_text("z" * 500)
    assert load_file(path)[0].reason.startswith("file too large")
    assert load_file(path, max_file_bytes=1000)[0].text == "z" * 500


def test_default_limit_is_20_mb():
    assert base.MAX_FILE_BYTES == 20 * MB


_BIG_TXT = r"""
import json, resource, sys
from pathlib import Path
from tailor.kb.loaders import load_documents
docs, errors = load_documents([Path(sys.argv[1])])
# VmHWM is this process's own peak; ru_maxrss on Linux keeps the peak of the (forked) parent across exec
status = Path("/proc/self/status")
hwm = [int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmHWM:")] \
    if status.exists() else [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss]
print(json.dumps({"docs": [d.id for d in docs], "errors": [[e.path, e.reason] for e in errors],
                  "maxrss_kb": hwm[0]}))
"""


def test_a_50_mb_single_line_txt_is_refused_by_name_in_bounded_memory(tmp_path: Path):
    good(tmp_path)
    big = tmp_path / "huge.txt"
    with big.open("wb") as handle:  # one line, no newline
        for _ in range(50):
            handle.write(b"a" * MB)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _BIG_TXT, str(tmp_path)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["docs"] == ["good.txt"]
    [[path, reason]] = result["errors"]
    assert path == str(big) and reason.startswith("file too large: 52,428,800 bytes (50.0 MB)")
    assert "limit of 20,971,520 bytes (20.0 MB)" in reason
    assert result["maxrss_kb"] < 400 * 1024  # the child's peak: imports only, the file was never read
    assert time.monotonic() - started < 60


# ---------------------------------------------------------------- zip-based formats


def test_docx_bomb_is_refused_before_parsing_in_well_under_a_second(tmp_path: Path):
    good(tmp_path)
    bomb = make_bomb(tmp_path / "bomb.docx", 400 * MB)  # ~400 KB on disk, as in the issue
    assert bomb.stat().st_size < 1 * MB
    started = time.monotonic()
    ids, errors = loaded_ids(tmp_path)
    assert time.monotonic() - started < 0.5
    assert ids == ["good.txt"]
    assert errors[str(bomb)].startswith(
        "refused docx: unzips to 419,430,408 bytes (400.0 MB), over the limit of"
    )


def test_docx_entry_compressed_too_much_is_refused(tmp_path: Path):
    good(tmp_path)
    bomb = make_bomb(tmp_path / "ratio.docx", 32 * MB)  # under the total limit, ratio ~1000 to 1
    ids, errors = loaded_ids(tmp_path)
    assert ids == ["good.txt"]
    reason = errors[str(bomb)]
    assert reason.startswith("refused docx: entry 'word/document.xml' is compressed ")
    assert reason.endswith("over the limit of 200 to 1")


def test_docx_with_too_many_entries_is_refused(tmp_path: Path):
    good(tmp_path)
    crowded = make_bomb(tmp_path / "crowded.docx", 0, entries=10_001)
    ids, errors = loaded_ids(tmp_path)
    assert ids == ["good.txt"]
    assert errors[str(crowded)] == "refused docx: 10,002 zip entries, over the limit of 10,000"


def test_zip_limits_are_parameters_and_a_real_docx_passes(tmp_path: Path):
    path = make_docx(tmp_path / "ok.docx")
    check_zip(path, "docx")
    with pytest.raises(LoadFailure, match="over the limit of 100 bytes"):
        check_zip(path, "docx", max_unzipped=100)
    with pytest.raises(LoadFailure, match="zip entries, over the limit of 2"):
        check_zip(path, "docx", max_entries=2)
    assert load_file(path)[0].title == "Handbook"


@pytest.mark.parametrize("content", [b"", b"plain text, not a zip", b"PK\x03\x04truncated"])
def test_non_zip_or_truncated_docx_is_a_named_error(tmp_path: Path, content: bytes):
    good(tmp_path)
    path = tmp_path / "broken.docx"
    path.write_bytes(content)
    ids, errors = loaded_ids(tmp_path)
    assert ids == ["good.txt"]
    assert errors[str(path)].startswith("invalid docx: not a zip archive or truncated")


def test_truncated_real_docx_is_a_named_error(tmp_path: Path):
    data = make_docx(tmp_path / "whole.docx").read_bytes()
    path = tmp_path / "cut.docx"
    path.write_bytes(data[: len(data) // 2])
    assert load_file(path)[0].reason.startswith("invalid docx: not a zip archive or truncated")


# ---------------------------------------------------------------- folder walk


def test_file_symlink_loop_is_named(tmp_path: Path):
    good(tmp_path)
    (tmp_path / "a.txt").symlink_to(tmp_path / "b.txt")
    (tmp_path / "b.txt").symlink_to(tmp_path / "a.txt")
    (tmp_path / "self").symlink_to(tmp_path / "self")
    ids, errors = loaded_ids(tmp_path)
    assert ids == ["good.txt"]
    for name in ("a.txt", "b.txt", "self"):
        assert errors[str(tmp_path / name)].startswith("symlink loop")


def test_directory_symlink_loop_is_named_and_not_followed(tmp_path: Path):
    good(tmp_path)
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "inner.md").write_text("# Inner\n")
    (sub / "back").symlink_to(tmp_path, target_is_directory=True)
    (sub / "here").symlink_to(sub, target_is_directory=True)
    ids, errors = loaded_ids(tmp_path)
    assert ids == ["good.txt", "sub/inner.md"]
    assert errors[str(sub / "back")].startswith("symlink loop: a link to ")
    assert errors[str(sub / "here")].startswith("symlink loop: a link to ")
    assert len(errors) == 2


def test_link_to_an_outside_folder_is_named(tmp_path: Path):
    corpus, outside = tmp_path / "kb", tmp_path / "elsewhere"
    corpus.mkdir()
    outside.mkdir()
    (outside / "x.txt").write_text("outside\n")
    good(corpus)
    (corpus / "linked").symlink_to(outside, target_is_directory=True)
    ids, errors = loaded_ids(corpus)
    assert ids == ["good.txt"]
    assert errors == {
        str(corpus / "linked"): f"symbolic link to a folder ({outside}); links to folders are not followed"
    }


def test_broken_link_is_named(tmp_path: Path):
    good(tmp_path)
    (tmp_path / "gone.md").symlink_to(tmp_path / "nowhere.md")
    ids, errors = loaded_ids(tmp_path)
    assert ids == ["good.txt"]
    assert errors[str(tmp_path / "gone.md")].startswith("broken symbolic link")


def test_fifo_is_not_a_regular_file_and_is_never_opened(tmp_path: Path):
    good(tmp_path)
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)  # opening it for reading would block this test forever
    ids, errors = loaded_ids(tmp_path)
    assert ids == ["good.txt"]
    assert errors == {str(fifo): "not a regular file (a FIFO)"}
    # named directly it is refused the same way, not as "no such file"
    docs, direct = load_documents([fifo, tmp_path / "good.txt"])
    assert [d.id for d in docs] == ["good.txt"] and direct == [
        LoadError(str(fifo), "not a regular file (a FIFO)")
    ]


def test_socket_and_device_are_not_regular_files(tmp_path: Path):
    good(tmp_path)
    sock_path = tmp_path / "s.md"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(sock_path))
        ids, errors = loaded_ids(tmp_path)
    finally:
        server.close()
    assert ids == ["good.txt"]
    assert errors == {str(sock_path): "not a regular file (a socket)"}
    assert load_file(Path("/dev/null"))[0].reason == "not a regular file (a character device)"


def test_reader_never_blocks_on_a_fifo(tmp_path: Path):
    fifo = tmp_path / "late.txt"
    os.mkfifo(fifo)
    with pytest.raises(LoadFailure, match="not a regular file"):
        base.read_bytes(fifo)


@needs_non_root
@pytest.mark.parametrize(("name", "reason"), [("locked", "folder not read: permission denied"),
                                              ("locked.md", "permission denied")])
def test_unreadable_folder_or_file_is_named(tmp_path: Path, name: str, reason: str):
    good(tmp_path)
    locked = tmp_path / name
    if locked.suffix:
        locked.write_text("# Locked\n")
    else:
        locked.mkdir()
        (locked / "secret.txt").write_text("hidden\n")
    mode = locked.stat().st_mode
    locked.chmod(0)
    try:
        ids, errors = loaded_ids(tmp_path)
    finally:
        locked.chmod(mode)
    assert ids == ["good.txt"]
    assert errors == {str(locked): reason}


def test_hidden_and_unknown_entries_stay_silent(tmp_path: Path):
    good(tmp_path)
    (tmp_path / ".hidden.txt").symlink_to(tmp_path / ".hidden.txt")
    (tmp_path / "notes.xyz").write_text("x")
    os.mkfifo(tmp_path / "pipe.bin")
    ids, errors = loaded_ids(tmp_path)
    assert ids == ["good.txt"] and errors == {}
