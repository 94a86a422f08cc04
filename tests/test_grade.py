"""Grading: JUnit XML and Gradescope results.json, valid against their formats, deterministic;
file-parallel on an Executor (a process pool, or a Dask cluster); goals; per-step limits."""

import json
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from symce.cli import main
from symce.grade import file_score, grade, gradescope_json, junit_xml
from symce.verify import cache, timelimit
from symce.verify.timelimit import run_limited

HERE = Path(__file__).parent
GRADE = HERE / "fixtures" / "grade"
WRONG = HERE / "fixtures" / "wrong"


# --- the formats, as documented ------------------------------------------------------
# JUnit XML has no single standard; this follows the junit-4 schema that Jenkins and Ant
# readers accept: <testsuites> (optional counts) > <testsuite name tests ...> > <testcase
# name classname ...> holding at most: skipped, error*, failure*, system-out*, system-err*.

_SUITES_ATTRS = {"name", "time", "tests", "failures", "disabled", "errors"}
_SUITE_ATTRS = {"name", "tests", "failures", "errors", "skipped", "disabled", "time", "timestamp",
                "hostname", "id", "package"}
_CASE_ATTRS = {"name", "classname", "assertions", "time", "status"}
_CASE_CHILDREN = {"skipped", "error", "failure", "system-out", "system-err"}


def validate_junit(text: str) -> ET.Element:
    root = ET.fromstring(text.encode())
    assert root.tag == "testsuites"
    assert set(root.attrib) <= _SUITES_ATTRS, root.attrib
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for suite in root:
        assert suite.tag == "testsuite"
        assert set(suite.attrib) <= _SUITE_ATTRS and {"name", "tests"} <= set(suite.attrib)
        cases = list(suite)
        assert all(c.tag in ("testcase", "properties", "system-out", "system-err") for c in cases)
        cases = [c for c in cases if c.tag == "testcase"]
        assert int(suite.get("tests")) == len(cases)
        counted = {"failures": 0, "errors": 0}
        for case in cases:
            assert set(case.attrib) <= _CASE_ATTRS and "name" in case.attrib
            assert all(child.tag in _CASE_CHILDREN for child in case)
            assert sum(child.tag == "skipped" for child in case) <= 1
            for child in case:
                if child.tag in ("failure", "error"):
                    assert set(child.attrib) <= {"message", "type"}
            counted["failures"] += any(child.tag == "failure" for child in case)
            counted["errors"] += any(child.tag == "error" for child in case)
        for key, value in counted.items():
            assert int(suite.get(key, 0)) == value
        totals["tests"] += len(cases)
        for key in counted:
            totals[key] += counted[key]
    for key, value in totals.items():
        assert int(root.get(key)) == value
    return root


# Gradescope's autograder specification (results.json): a top level and a list of tests.
_TOP = {"score": (int, float), "execution_time": (int, float), "output": str, "output_format": str,
        "test_output_format": str, "test_name_format": str, "visibility": str, "stdout_visibility": str,
        "extra_data": dict, "tests": list, "leaderboard": list}
_TEST = {"score": (int, float), "max_score": (int, float), "status": str, "name": str, "name_format": str,
         "number": str, "output": str, "output_format": str, "tags": list, "visibility": str,
         "extra_data": dict}
_VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
_FORMATS = {"text", "html", "simple_format", "md", "ansi"}


def validate_gradescope(text: str) -> dict:
    doc = json.loads(text)
    assert isinstance(doc, dict)
    for key, value in doc.items():
        assert key in _TOP, key
        assert isinstance(value, _TOP[key]) and not isinstance(value, bool), (key, value)
    for key in ("visibility", "stdout_visibility"):
        assert doc.get(key, "visible") in _VISIBILITY
    assert doc.get("output_format", "text") in _FORMATS
    for test in doc["tests"]:
        for key, value in test.items():
            assert key in _TEST, key
            assert isinstance(value, _TEST[key]) and not isinstance(value, bool), (key, value)
        assert test.get("status", "passed") in ("passed", "failed")
        assert test.get("visibility", "visible") in _VISIBILITY
        assert "score" in doc or "score" in test
        if "score" in test and "max_score" in test:
            assert 0 <= test["score"] <= test["max_score"]
    return doc


# --- grading -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def results():
    return grade([str(GRADE), str(WRONG / "square_dropped.toml")], workers=2)


def test_junit_is_valid_with_a_test_per_step_and_the_feedback_as_failure_message(results):
    root = validate_junit(junit_xml(results))
    suites = {s.get("name"): s for s in root}
    wrong = suites[str(GRADE / "wrong_last_step.toml")]
    names = [c.get("name") for c in wrong]
    assert names == ["step 1: write `s[i]` out", "step 2: quotient rule",
                     "step 3: two quotients, with a sign slip",
                     "goal: Derivative(s[i], z[i]) = s[i]*(1 - s[i])"]
    failure = wrong[2].find("failure")
    assert failure.get("type") == "fails"
    assert failure.get("message") == "fails: this step has the term 2*s[i]**2 too many (previous = this step - 2*s[i]**2)"
    assert "at k = 3, i = 1, z[1] = 0.5, z[2] = 2.0, z[3] = -1.0, s[i] = 0.17529" in failure.text  # s_i there
    assert wrong[3].find("failure").get("message").startswith("no chain whose steps all pass")
    bad = suites[str(GRADE / "malformed.toml")]
    assert bad[0].find("error").get("message").endswith(
        "operator '^' is not allowed; a power is written with **, e.g. x**2 (line 10, column 20)")
    dropped = suites[str(WRONG / "square_dropped.toml")]
    assert any("differ by a factor 1/Sum(exp(z[j]), (j, 1, k))" in (c.find("failure").get("message"))
               for c in dropped if c.find("failure") is not None)


def test_gradescope_is_valid_and_scores_steps_and_goal(results):
    doc = validate_gradescope(gradescope_json(results))
    files = {f["path"]: f for f in doc["extra_data"]["files"]}
    assert files[str(GRADE / "with_goal.toml")] == {"path": str(GRADE / "with_goal.toml"), "score": 6.0,
                                                  "max_score": 6.0, "passed": True}
    # two of three steps, and no goal: a goal is worth as much as the steps together
    assert (files[str(GRADE / "wrong_last_step.toml")]["score"],
            files[str(GRADE / "wrong_last_step.toml")]["max_score"]) == (2.0, 6.0)
    assert files[str(GRADE / "malformed.toml")]["score"] == 0.0
    assert doc["score"] == sum(t["score"] for t in doc["tests"])
    assert [file_score(r) for r in results] == [(f["score"], f["max_score"]) for f in doc["extra_data"]["files"]]


def test_reports_are_deterministic_whatever_the_executor(results):
    with ThreadPoolExecutor(max_workers=3) as pool:
        again = grade([str(GRADE), str(WRONG / "square_dropped.toml")], executor=pool)
    assert junit_xml(again) == junit_xml(results)
    assert gradescope_json(again) == gradescope_json(results)


def test_cli_writes_junit_and_exits_1_when_a_file_does_not_hold(tmp_path, capsys):
    out = tmp_path / "report.xml"
    code = main(["check", str(GRADE), "--format", "junit", "-o", str(out), "--jobs", "2"])
    assert code == 1
    validate_junit(out.read_text())
    assert "1 of 3 files hold" in capsys.readouterr().err
    code = main(["check", str(GRADE / "with_goal.toml"), "--format", "gradescope"])
    assert code == 0
    validate_gradescope(capsys.readouterr().out)


def test_the_text_report_says_whether_the_goal_is_reached(capsys):
    assert main(["check", str(GRADE / "with_goal.toml")]) == 0
    assert ("goal of " + str(GRADE / "with_goal.toml") + ": Derivative(s[i], z[i]) = s[i]*(1 - s[i]): "
            "reached (proved by chain 'quotient')") in capsys.readouterr().out


def test_a_memory_limit_stops_a_step_that_allocates_past_it():
    big, small = 300 * 2**20, 10 * 2**20
    out = run_limited([lambda: len(bytearray(small)), lambda: len(bytearray(big))], timeout=60, memory_mb=100)
    assert out == [("ok", small), ("error", "MemoryError: memory limit of 100 MB reached")]


_REAL_INLINE = timelimit._inline


def _refuse_memory(job, memory_mb=None):
    # Stands in for timelimit._inline, which runs every job in its step process under the limit.
    return ("error", f"MemoryError: limit of {memory_mb:g} MiB applied") if memory_mb else _REAL_INLINE(job)


def test_the_memory_limit_is_applied_in_every_step_process_of_the_workers(monkeypatch):
    # No derivation step within the file caps needs much memory, so the limit itself is
    # replaced by one that refuses at once: every step's process must have applied it.
    # (Verdicts decided earlier in this process would be reused, correctly: start without them.)
    monkeypatch.setattr(cache, "_VERDICTS", {})
    monkeypatch.setattr(timelimit, "_inline", _refuse_memory)
    out = grade([str(GRADE / "with_goal.toml")], workers=1, memory_mb=64)
    assert {s["evidence"] for s in out[0]["steps"]} == {"unverified"}
    assert {s["detail"] for s in out[0]["steps"]} == {"checker gave up: MemoryError: limit of 64 MiB applied"}


def _verdicts(results):
    return [(r["path"], r["passed"], [(s["chain"], s["step"], s["evidence"]) for s in r["steps"]])
            for r in results]


def test_dask_cluster_grades_the_same(results, monkeypatch):
    distributed = pytest.importorskip("dask.distributed", reason="dask is not installed (the 'dask' extra)")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = grade([str(GRADE), str(WRONG / "square_dropped.toml")], executor=client.get_executor(),
                       memory_mb=None)
        monkeypatch.setattr(cache, "_VERDICTS", {})
        monkeypatch.setattr(timelimit, "_inline", _refuse_memory)
        limited = grade([str(GRADE / "with_goal.toml")], executor=client.get_executor(), memory_mb=64)
    # The verdicts, step by step, are the same. (The feedback text is not compared: it is
    # computed within what is left of each step's time limit, so a loaded machine may drop
    # it on one side; determinism of the reports themselves is tested on one executor.)
    assert _verdicts(remote) == _verdicts(results)
    assert {s["evidence"] for s in limited[0]["steps"]} == {"unverified"}  # limits apply on the worker
