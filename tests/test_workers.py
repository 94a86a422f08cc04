"""Long-lived workers: every step under its own deadline, many steps per forked process."""

import os
import time

import pytest

from symce.read.toml import load_derivation
from symce.verify import steps
from symce.verify.timelimit import HAS_FORK, run_in_workers

pytestmark = pytest.mark.skipif(not HAS_FORK, reason="workers are forked processes; no fork here")

_seen = []  # set by one job, read by the next: shows that they ran in the same process


def _remember(n):
    _seen.append(n)
    return list(_seen)


def test_results_come_back_in_order_whatever_the_number_of_workers():
    jobs = [lambda n=n: n * n for n in range(9)]
    for workers in (1, 2, 3, 20):
        assert run_in_workers(jobs, timeout=30, workers=workers) == [("ok", n * n) for n in range(9)]
    assert run_in_workers([], timeout=30, workers=2) == []


def test_one_worker_runs_every_job_in_one_process_in_turn():
    outcomes = run_in_workers([lambda n=n: (os.getpid(), _remember(n)) for n in range(4)], timeout=30)
    pids = {value[0] for _, value in outcomes}
    assert len(pids) == 1 and os.getpid() not in pids
    assert [value[1] for _, value in outcomes] == [[0], [0, 1], [0, 1, 2], [0, 1, 2, 3]]
    assert _seen == []  # nothing ran in this process


def test_two_workers_use_two_processes():
    outcomes = run_in_workers([lambda: os.getpid()] * 6, timeout=30, workers=2)
    assert len({value for _, value in outcomes}) == 2


def test_a_job_past_its_deadline_is_killed_and_the_rest_still_run():
    jobs = [lambda: "first", lambda: time.sleep(60), lambda: "third", lambda: "fourth"]
    start = time.monotonic()
    assert run_in_workers(jobs, timeout=1.0, workers=1) == [
        ("ok", "first"), ("timeout", 1.0), ("ok", "third"), ("ok", "fourth")]
    assert time.monotonic() - start < 30  # killed, not waited for


def test_a_worker_that_dies_costs_only_its_job():
    jobs = [lambda: 1, lambda: os._exit(7), lambda: 3]
    assert run_in_workers(jobs, timeout=30, workers=1) == [
        ("ok", 1), ("error", "the worker process died without an answer"), ("ok", 3)]


def test_an_unpicklable_answer_is_an_error_not_a_dead_worker():
    outcomes = run_in_workers([lambda: (lambda: 0), lambda: 2], timeout=30, workers=1)
    assert outcomes[0][0] == "error" and outcomes[0][1].startswith("unpicklable answer (")
    assert outcomes[1] == ("ok", 2)


def test_the_worker_count_follows_the_steps_and_the_load():
    assert steps.workers_for(1, load=0.0) == 1
    assert steps.workers_for(steps.STEPS_PER_WORKER - 1, load=0.0) == 1
    assert steps.workers_for(1000, load=0.0) == min(steps._cpus(), steps.MAX_WORKERS)
    assert steps.workers_for(1000, load=float(steps._cpus())) == 1  # no idle CPU: one worker


def test_one_worker_and_several_give_the_same_report():
    d = load_derivation("derivations/stable_softmax.toml")
    one, two = steps.check(d, parallel=1), steps.check(d, parallel=2)
    assert [(r.chain, r.index, r.evidence, r.detail) for r in one.steps] == \
           [(r.chain, r.index, r.evidence, r.detail) for r in two.steps]


def test_a_shared_meaning_is_computed_once_per_expression():
    d = load_derivation("derivations/softmax_cross_entropy.toml")
    meaning = steps._meaning(d)
    assert steps._meaning(d) is meaning
    expr = d.chains[0].steps[0].expr
    assert meaning.of(expr) is meaning.of(expr)


def test_each_job_has_its_own_deadline_not_the_worker():
    """Three jobs of 0.6 s under a 1.5 s limit in one worker: 1.8 s in all, each within its limit."""
    jobs = [lambda n=n: (time.sleep(0.6), n)[1] for n in range(3)]
    assert run_in_workers(jobs, timeout=1.5, workers=1) == [("ok", 0), ("ok", 1), ("ok", 2)]
