import json
import os

from tailor.serve.reports import ReportShelf


def test_reports_are_listed_newest_first_and_only_their_own_files_are_served(tmp_path):
    root = tmp_path / "reports"
    for name, when in (("run-a", 1_000), ("run-b", 3_000), ("run-c", 2_000)):
        (root / name).mkdir(parents=True)
        (root / name / "report.html").write_text(f"<h1>{name}</h1>")
        os.utime(root / name / "report.html", (when, when))
    (root / "run-a" / "plot.png").write_bytes(b"png")
    (root / "no-report").mkdir()
    (root / ".hidden").mkdir()
    (root / ".hidden" / "report.html").write_text("x")
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", root / "run-a" / "leak.txt")

    shelf = ReportShelf(root)
    assert [r.name for r in shelf.list()] == ["run-b", "run-c", "run-a"]
    assert shelf.list()[2].to_dict()["url"] == "/reports/run-a/report.html"
    assert shelf.file("run-a", "plot.png") == ((root / "run-a" / "plot.png").resolve(), None)
    for name, filename in [("run-a", "leak.txt"), ("..", "secret.txt"), ("run-a", "../run-b/report.html"),
                           ("no-report", "report.html"), (".hidden", "report.html"), ("run-a", "missing.html"),
                           ("run-a", "")]:
        assert shelf.file(name, filename) is None, (name, filename)


def test_no_reports_folder_means_no_reports(tmp_path):
    assert ReportShelf(None).list() == [] and ReportShelf(None).file("a", "report.html") is None
    assert ReportShelf(tmp_path / "missing").list() == []


def test_a_report_has_the_groups_it_was_made_with_and_unknown_groups_are_none(tmp_path):
    shelf = ReportShelf(tmp_path)
    for name in ("served", "cli", "unknown", "broken"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.html").write_text(name)
    shelf.record(tmp_path / "served", ["public", "hr"])
    (tmp_path / "cli" / "report.json").write_text(json.dumps({"kb": {"groups": {"public": 2, "secret": 1}}}))
    (tmp_path / "broken" / ".access.json").write_text('{"groups": "hr"}')
    groups = {r.name: r.groups for r in shelf.list()}
    assert groups == {"served": ("hr", "public"), "cli": ("public", "secret"), "unknown": None, "broken": None}
    assert shelf.file("served", "report.html")[1] == ("hr", "public")
    assert shelf.file("served", ".access.json") is None  # the record itself is never served
