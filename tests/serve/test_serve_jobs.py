import threading

from tailor.serve.jobs import JobRunner


def test_jobs_report_progress_errors_and_results_in_submission_order():
    runner = JobRunner()
    gate, order = threading.Event(), []

    def first(handle):
        handle.progress("load", 1, 2)
        gate.wait(10)
        order.append("first")
        return {"n": 1}

    def second(handle):
        order.append("second")
        handle.error("bad.pdf", "encrypted")
        return {"n": 2}

    a = runner.submit("ingest", "k1", first)
    b = runner.submit("ingest", "k1", second)
    while runner.get(a.id).status != "running":
        pass
    running = runner.get(a.id)
    assert running.progress == {"load": {"done": 1, "total": 2}}
    assert runner.get(b.id).status == "queued"
    gate.set()
    done_a, done_b = runner.wait(a.id), runner.wait(b.id)
    assert order == ["first", "second"]
    assert (done_a.status, done_a.result) == ("succeeded", {"n": 1})
    assert done_b.status == "partial"
    assert done_b.to_dict()["errors"] == [{"item": "bad.pdf", "reason": "encrypted"}]
    runner.shutdown()


def test_a_failing_job_is_failed_with_its_message_and_the_runner_goes_on():
    runner = JobRunner()

    def boom(handle):
        raise RuntimeError("disk full")

    failed = runner.wait(runner.submit("ingest", "k", boom).id)
    assert failed.status == "failed" and failed.message == "RuntimeError: disk full"
    assert runner.wait(runner.submit("ingest", "k", lambda h: {}).id).status == "succeeded"
    assert runner.get("nope") is None
    runner.shutdown()


def test_only_the_latest_finished_jobs_are_kept():
    runner = JobRunner(keep=2)
    ids = [runner.submit("ingest", "k", lambda h: {}).id for _ in range(4)]
    for job_id in ids[-2:]:
        runner.wait(job_id)
    assert [job.id for job in runner.jobs()] == ids[-2:]
    runner.shutdown()


def test_jobs_run_nicer_than_the_threads_that_submit_them():
    import os

    import pytest

    if not hasattr(os, "setpriority"):
        pytest.skip("no per-thread priorities on this platform")
    runner = JobRunner(nice=5)
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def own_priority(handle):
        return {"nice": os.getpriority(os.PRIO_PROCESS, threading.get_native_id())}

    done = runner.wait(runner.submit("ingest", "k", own_priority).id)
    assert done.result == {"nice": min(19, before + 5)}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before  # the caller is untouched
    runner.shutdown()
