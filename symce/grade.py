"""Grading many submissions: file-parallel checking, and reports that graders read.

An instructor's folder of 200 derivation files is checked one file per task on a
``concurrent.futures.Executor``: a local process pool by default, or a Dask
cluster's executor (``Client.get_executor()``), so that a grading server that
outgrows one machine hands the same tasks to its cluster. Each task is
``grade_file``: plain data in, plain data out (picklable by any executor), and
inside it every step runs in its own forked process under the time and memory
limits, on whichever machine the task landed.

Two output formats, both deterministic (files in the order given, no clocks):

* JUnit XML, read by CI systems and many graders: one ``testsuite`` per file, one
  ``testcase`` per step (the feedback as the failure message), one for the goal;
* Gradescope's ``results.json``: one test per step (1 point each) and one for the
  goal (worth as many points as the file has steps), so a file's score counts the
  steps proved and the goal reached alike.

This module sits between ``output`` and ``cli`` in the flow: it reads and verifies,
and leaves writing files to ``output`` and printing to ``cli``.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from concurrent.futures import Executor, ProcessPoolExecutor

from .errors import SymceError

__all__ = ["grade", "grade_file", "junit_xml", "gradescope_json", "file_score"]


def grade_file(path: str, *, timeout: float = 10.0, memory_mb: float | None = None,
               allow_numeric: bool = False, all_k: bool = True, declarations: str | None = None) -> dict:
    """Check one file: the report as plain data, with the goal's verdict and each step's feedback.

    A file that cannot be read is an entry with ``error`` set: in a batch of
    submissions, one student's malformed file is that student's result, not the end
    of the batch.
    """
    from .read.notes import load_any
    from .verify.cache import check_cached
    from .verify.goal import check_goal

    try:
        d = load_any(path, declarations)  # TOML, or a Markdown post / .tex note
    except SymceError as exc:
        return {"path": path, "title": "", "passed": False, "steps": [], "goal": None, "error": str(exc)}
    report = check_cached(d, timeout=timeout, memory_mb=memory_mb)
    out = report.as_dict(allow_numeric=allow_numeric, all_k=all_k)
    for entry, result in zip(out["steps"], report.steps):
        entry["message"] = _message(entry, result)
    goal = check_goal(report, allow_numeric=allow_numeric, all_k=all_k)
    out["goal"] = None if goal is None else goal.as_dict()
    out["error"] = None
    return out


def _message(entry: dict, result) -> str:
    """A failing step's message: verdict, counterexample, feedback ("" for a step that passes)."""
    if entry["passed"]:
        return ""
    lines = [f"line {entry['line']}: " if entry["line"] else ""]
    lines[0] += entry["evidence_text"] + (f" ({entry['detail']})" if entry["detail"] else "")
    cx = result.counterexample
    if cx is not None:
        lines.append("counterexample: " + ", ".join(f"{k} = {v}" for k, v in cx.values.items()))
        lines.append(f"previous expression = {cx.lhs}, this step's expression = {cx.rhs}")
    if result.feedback is not None and result.feedback.text():
        lines.append(result.feedback.text())
    return "\n".join(lines)


def grade(paths: list[str], *, executor: Executor | None = None, workers: int | None = None,
          timeout: float = 10.0, memory_mb: float | None = None, allow_numeric: bool = False,
          all_k: bool = True, declarations: str | None = None) -> list[dict]:
    """``grade_file`` for every file under ``paths``, one task per file, results in file order.

    ``executor``: where the tasks run (a Dask ``Client.get_executor()``, say); by
    default a local process pool of ``workers`` processes (default: the CPU count).
    """
    from .read.files import derivation_paths

    files = derivation_paths(paths)
    own = executor is None
    if own:
        executor = ProcessPoolExecutor(max_workers=max(1, min(workers or os.cpu_count() or 1, len(files))))
    try:
        futures = [executor.submit(grade_file, f, timeout=timeout, memory_mb=memory_mb,
                                   allow_numeric=allow_numeric, all_k=all_k, declarations=declarations)
                   for f in files]
        return [f.result() for f in futures]
    finally:
        if own:
            executor.shutdown(cancel_futures=True)


def file_score(result: dict) -> tuple[float, float]:
    """(score, max score) of one file: a point per step that passes, and the goal worth as
    many points as the file has steps (a file without a goal is scored on its steps)."""
    steps = result["steps"]
    if result["error"] is not None:
        return 0.0, 1.0
    score = float(sum(s["passed"] for s in steps))
    top = float(len(steps))
    if result["goal"] is not None:
        top += len(steps)
        score += len(steps) if result["goal"]["reached"] else 0
    return score, top


def passed(result: dict) -> bool:
    """Every step passes, and the goal, if declared, is reached."""
    goal = result["goal"]
    return result["error"] is None and result["passed"] and (goal is None or goal["reached"])


# --- JUnit XML -----------------------------------------------------------------

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not allowed in XML 1.0


def _clean(text: str) -> str:
    return _XML_BAD.sub("?", text)


def junit_xml(results: list[dict]) -> str:
    """JUnit XML: ``testsuites`` > a ``testsuite`` per file > a ``testcase`` per step and goal."""
    root = ET.Element("testsuites", name="symce check")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for result in results:
        suite = ET.SubElement(root, "testsuite", name=_clean(result["path"]))
        stem = os.path.splitext(os.path.basename(result["path"]))[0]
        cases = []
        if result["error"] is not None:
            case = ET.Element("testcase", classname=_clean(stem), name="read the file")
            ET.SubElement(case, "error", message=_clean(result["error"]), type="malformed").text = _clean(
                result["error"])
            cases.append((case, "error"))
        for step in result["steps"]:
            case = ET.Element("testcase", classname=_clean(f"{stem}.{step['chain']}"),
                              name=_clean(f"step {step['step']}: {step['reason']}"))
            if not step["passed"]:
                words = (step.get("feedback") or {}).get("words")
                first = f"{step['evidence_text']}: {words}" if words else step["message"].splitlines()[0]
                ET.SubElement(case, "failure", message=_clean(first), type=step["evidence"]).text = _clean(
                    step["message"])
            cases.append((case, "ok" if step["passed"] else "failure"))
        goal = result["goal"]
        if goal is not None:
            case = ET.Element("testcase", classname=_clean(f"{stem}.goal"), name=_clean(f"goal: {goal['goal']}"))
            if not goal["reached"]:
                ET.SubElement(case, "failure", message=_clean(goal["detail"]), type="goal").text = _clean(
                    goal["detail"])
            cases.append((case, "ok" if goal["reached"] else "failure"))
        counts = {"tests": len(cases), "failures": sum(k == "failure" for _, k in cases),
                  "errors": sum(k == "error" for _, k in cases)}
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.extend(case for case, _ in cases)
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# --- Gradescope results.json -------------------------------------------------------

def gradescope_json(results: list[dict]) -> str:
    """Gradescope's ``results.json``: tests with scores and output, a total, per-file scores."""
    tests, files = [], []
    for n, result in enumerate(results, start=1):
        name, number = result["path"], iter(range(1, 10**6))
        if result["error"] is not None:
            tests.append({"name": f"{name}: read the file", "number": f"{n}.{next(number)}", "score": 0.0, "max_score": 1.0,
                          "status": "failed", "output": result["error"], "visibility": "visible"})
        for step in result["steps"]:
            tests.append({
                "name": f"{name}: chain {step['chain']!r}, step {step['step']}: {step['reason']}",
                "number": f"{n}.{next(number)}", "score": 1.0 if step["passed"] else 0.0, "max_score": 1.0,
                "status": "passed" if step["passed"] else "failed",
                "output": step["message"] or step["evidence_text"], "visibility": "visible"})
        goal = result["goal"]
        if goal is not None:
            worth = float(len(result["steps"]))
            tests.append({"name": f"{name}: goal {goal['goal']}", "number": f"{n}.{next(number)}",
                          "score": worth if goal["reached"] else 0.0, "max_score": worth,
                          "status": "passed" if goal["reached"] else "failed", "output": goal["detail"],
                          "visibility": "visible"})
        score, top = file_score(result)
        files.append({"path": name, "score": score, "max_score": top, "passed": passed(result)})
    total = sum(f["score"] for f in files)
    top = sum(f["max_score"] for f in files)
    summary = "\n".join(f"{f['path']}: {f['score']:g} / {f['max_score']:g}" for f in files)
    doc = {"score": total, "output": f"symce check: {total:g} of {top:g} points\n{summary}",
           "output_format": "text", "visibility": "visible", "stdout_visibility": "hidden",
           "tests": tests, "extra_data": {"files": files}}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
