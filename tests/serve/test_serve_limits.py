import pytest

from tailor.serve.limits import RateLimiter, retry_after_header, safe_filename

ALLOWED = [".md", ".txt", ".pdf"]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_limiter_allows_a_burst_then_the_sustained_rate_per_key():
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=3, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.acquire("a")
    assert wait == pytest.approx(1.0)
    assert retry_after_header(wait) == "1"
    assert limiter.acquire("b") == 0.0  # keys do not share a bucket
    clock.now = 1.0
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0


@pytest.mark.parametrize("raw, safe", [
    ("notes.md", "notes.md"),
    ("../../etc/passwd.md", "passwd.md"),
    ("..\\..\\windows\\x.TXT", "x.txt"),
    ("/abs/path/.hidden.md", "hidden.md"),
    ("my report (final).pdf", "my_report_final.pdf"),
    ("a\x00b.md", "a_b.md"),
    ("x" * 300 + ".md", "x" * 117 + ".md"),
])
def test_file_names_keep_a_safe_base_name(raw, safe):
    assert safe_filename(raw, ALLOWED) == safe


@pytest.mark.parametrize("raw", ["", "..", ".md", "/", "run.sh", "archive.tar.gz", "noext"])
def test_unusable_names_and_types_name_the_field(raw):
    with pytest.raises(ValueError, match=r"^files\[0\]\.filename: "):
        safe_filename(raw, ALLOWED, "files[0].filename")
