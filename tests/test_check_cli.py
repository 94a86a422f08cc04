"""``symce check``: exit codes 0/1/2, the readable report, JSON, one-line errors."""

import json
from pathlib import Path

import pytest

from symce.cli import main

ROOT = Path(__file__).parent.parent
REFERENCE = str(ROOT / "derivations" / "softmax_cross_entropy.toml")
WRONG = Path(__file__).parent / "fixtures" / "wrong"
GOOD = '''
title = "t"
[symbols]
k = "symbolic"
indices = ["i", "j"]
vectors = { z = "real" }
[[chains]]
name = "x"
start = "Derivative(exp(z[i]) * exp(z[j]), z[i])"
steps = [{ expr = "exp(z[i] + z[j]) * (1 + KroneckerDelta(i, j))", reason = "product rule" }]
'''


def test_reference_exits_0_with_one_line_per_step(capsys):
    assert main(["check", REFERENCE]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("  ok")]
    assert len(lines) == 21
    assert "  ok   loss step 2: proved for all k (" in out
    assert "cross-entropy over all `k` classes" in out  # the report keeps the backticks
    assert out.rstrip().endswith("21 of 21 steps hold in 1 file")


def test_wrong_step_exits_1_with_first_failure_and_counterexample(capsys):
    assert main(["check", str(WRONG / "square_dropped.toml")]) == 1
    out = capsys.readouterr().out
    assert "first failing step: " in out
    assert "square_dropped.toml, chain 'ds_c_dz_i_same', step 2 (line 62): fails" in out
    assert "  counterexample: k = " in out and "z[1] = " in out
    assert "previous expression = " in out and "this step's expression = " in out


def test_json_report(capsys):
    assert main(["check", "--json", REFERENCE, str(WRONG / "forgot_minus_one.toml")]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["passed"] is False
    first, second = doc["files"]
    assert first["passed"] is True and len(first["steps"]) == 21
    assert first["steps"][0]["evidence"] == "proved_all_k"
    failed = [s for s in second["steps"] if not s["passed"]][0]
    assert (failed["chain"], failed["step"], failed["evidence"]) == ("gradient", 3, "fails")
    assert failed["counterexample"]["values"]["k"].isdigit()


def test_folders_are_expanded_sorted(tmp_path, capsys):
    (tmp_path / "b.toml").write_text(GOOD.replace('title = "t"', 'title = "second"'))
    (tmp_path / "a.toml").write_text(GOOD.replace('title = "t"', 'title = "first"'))
    (tmp_path / "notes.txt").write_text("not a derivation")
    assert main(["check", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.index("first") < out.index("second")
    assert "2 of 2 steps hold in 2 files" in out


@pytest.mark.parametrize("text, message", [
    (GOOD.replace('"product rule"', "3"), r"bad.toml, chain 'x', step 1.reason: expected string, found integer"),
    (GOOD.replace('expr = "exp', "expr = \"().__class__ + exp"), "bad.toml, chain 'x', step 1: attribute access"),
    (GOOD.replace('k = "symbolic"', 'k = "symbolic"\nextra = 1'), "bad.toml, symbols.extra: unknown key"),
    ("title = ", "bad.toml: not valid TOML"),
])
def test_malformed_input_exits_2_with_one_line(tmp_path, capsys, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["check", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("symce: error: ") and message in err


def test_missing_path_and_bad_timeout_exit_2(capsys):
    assert main(["check", "no/such/file.toml"]) == 2
    assert "no/such/file.toml: no such file or folder" in capsys.readouterr().err
    assert main(["check", "--timeout", "0", REFERENCE]) == 2
    assert "--timeout: expected a positive number of seconds, found 0.0" in capsys.readouterr().err


def test_allow_numeric_flag(monkeypatch, tmp_path, capsys):
    import symce.verify.steps as verify

    monkeypatch.setattr(verify, "is_zero", lambda d: False)  # SymPy "gives up": probes only
    path = tmp_path / "good.toml"
    path.write_text(GOOD)
    assert main(["check", str(path)]) == 1
    assert "FAIL x step 1: numeric only" in capsys.readouterr().out
    assert main(["check", "--allow-numeric", str(path)]) == 0


def test_steps_proved_only_for_small_k_pass_only_with_the_flag_that_gives_up_larger_k(monkeypatch, tmp_path, capsys):
    import symce.verify.steps as steps

    monkeypatch.setattr(steps, "_proved_all_k", lambda *args: False)  # no proof for symbolic k
    path = tmp_path / "small.toml"
    path.write_text(GOOD.replace(
        'start = "Derivative(exp(z[i]) * exp(z[j]), z[i])"', 'start = "Sum(exp(z[j]), (j, 1, k))"').replace(
        'expr = "exp(z[i] + z[j]) * (1 + KroneckerDelta(i, j))"', 'expr = "Sum(exp(z[i]), (i, 1, k))"'))
    assert main(["check", str(path)]) == 1
    assert "0 of 1 steps hold in 1 file; 1 do not" in capsys.readouterr().out
    assert main(["check", str(path), "--allow-unproved-large-k"]) == 0
    assert ("1 of 1 steps hold in 1 file (1 of them only for k <= 6, passed by --allow-unproved-large-k)"
            in capsys.readouterr().out)
    assert main(["check", str(path), "--all-k"]) == 1  # the old flag: now the default, still accepted


def test_a_reader_that_stops_early_gets_no_internal_error():
    """`symce check FILE | head -1`: the pipe closes under the writer; it exits quietly."""
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)  # the reader has already gone: every write meets a closed pipe
    try:
        proc = subprocess.run([sys.executable, "-m", "symce", "check", REFERENCE], stdout=write,
                              stderr=subprocess.PIPE, cwd=ROOT, timeout=300)
    finally:
        os.close(write)
    assert proc.returncode == 141  # 128 + SIGPIPE, as the README documents (issue 10)
    assert proc.stderr == b""  # no "internal error", no "Exception ignored" from the last flush
