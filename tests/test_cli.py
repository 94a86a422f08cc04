"""The command line as a hostile user meets it: odd flags, odd output paths, symce's own bugs.

Per-command behaviour lives in ``test_cli_prove.py``, ``test_check_cli.py``,
``test_latex.py`` and ``test_export.py``; this file holds what every command shares:
how ``-o`` writes, how a bad ``--timeout`` is refused, and what an internal error looks like.
"""

import os
import stat
from pathlib import Path

import pytest

from symce import cli
from symce.cli import main

ROOT = Path(__file__).parent.parent
GOOD = '''
title = "t"
[symbols]
k = "symbolic"
indices = ["i"]
vectors = { z = "real" }
[[chains]]
name = "x"
start = "Derivative(exp(z[i]), z[i])"
steps = [{ expr = "exp(z[i])", reason = "exp is its own derivative" }]
'''


def one_line(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err.rstrip("\n")


# --- --timeout ---------------------------------------------------------------------

@pytest.mark.parametrize("value, message", [
    ("inf", "symce: error: --timeout: expected at most 86400 seconds, found inf"),
    ("1e400", "symce: error: --timeout: expected at most 86400 seconds, found inf"),
    ("1e9", "symce: error: --timeout: expected at most 86400 seconds, found 1e+09"),
    ("nan", "symce: error: --timeout: expected a positive number of seconds, found nan"),
    ("-1", "symce: error: --timeout: expected a positive number of seconds, found -1.0"),
])
def test_timeout_out_of_range_exits_2_before_checking(value, message, tmp_path, capsys):
    path = tmp_path / "good.toml"
    path.write_text(GOOD)
    assert main(["check", "--timeout", value, str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert one_line(captured.err) == message


def test_no_time_limit_from_the_library_never_overflows():
    from symce.verify.timelimit import run_limited

    # select() refuses a timeout of inf ("timestamp out of range"); the library must not.
    assert run_limited([lambda: 42], timeout=float("inf")) == [("ok", 42)]


# --- -o FILE, shared by latex and export --------------------------------------------

def export(out) -> int:
    return main(["export", "softmax-ce", "-o", str(out)])


def test_output_to_a_folder_exits_2_and_leaves_nothing(tmp_path, capsys):
    folder = tmp_path / "notes"
    folder.mkdir()
    assert export(folder) == 2
    assert one_line(capsys.readouterr().err) == (
        f"symce: error: {folder}: cannot write (it is a folder; give a file name)")
    assert list(folder.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["notes"]


def test_output_to_an_empty_name_exits_2(capsys):
    assert export("") == 2
    assert one_line(capsys.readouterr().err) == "symce: error: -o: expected a file name, found ''"


def test_output_whose_parent_is_missing_exits_2(tmp_path, capsys):
    target = tmp_path / "missing" / "g.py"
    assert export(target) == 2
    assert one_line(capsys.readouterr().err) == (
        f"symce: error: {target}: cannot write (No such file or directory)")


def test_output_file_gets_the_usual_permissions(tmp_path):
    # mkstemp makes 0600 files; an exported module or a .tex file must be readable
    # by the group and others as the umask allows, like any file the user writes.
    old = os.umask(0o022)
    try:
        assert export(tmp_path / "g.py") == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "g.py").stat().st_mode) == 0o644


def test_output_over_an_existing_file_keeps_its_permissions(tmp_path):
    target = tmp_path / "g.py"
    target.write_text("old\n")
    target.chmod(0o640)
    assert export(target) == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.read_text().startswith('"""Softmax cross-entropy')


def test_output_through_a_symbolic_link_writes_the_linked_file(tmp_path):
    real = tmp_path / "real.py"
    real.write_text("old\n")
    link = tmp_path / "link.py"
    link.symlink_to(real)
    assert export(link) == 0
    assert link.is_symlink()  # the link is not replaced by a file
    assert real.read_text().startswith('"""Softmax cross-entropy')


def test_output_to_a_device_writes_to_it_instead_of_replacing_it(tmp_path):
    # `-o /dev/stdout` and friends: renaming a temporary file over a device would
    # replace the device node itself (as root) or fail; a device is written in place.
    link = tmp_path / "null"
    link.symlink_to(os.devnull)
    assert export(link) == 0
    assert link.is_symlink() and stat.S_ISCHR(os.stat(os.devnull).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_failed_write_exits_2_and_leaves_no_file(tmp_path, capsys, monkeypatch):
    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    assert export(tmp_path / "g.py") == 2
    assert one_line(capsys.readouterr().err) == (
        f"symce: error: {tmp_path / 'g.py'}: cannot write (No space left on device)")
    assert list(tmp_path.iterdir()) == []


def test_latex_output_to_a_folder_exits_2(tmp_path, capsys, monkeypatch):
    import symce.verify.steps as verify

    monkeypatch.setattr(verify, "check", lambda d, **kw: verify.Report(derivation=d, steps=()))
    path = tmp_path / "good.toml"
    path.write_text(GOOD)
    assert main(["latex", str(path), "-o", str(tmp_path)]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"symce: error: {tmp_path}: cannot write (it is a folder; give a file name)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.toml"]


# --- symce's own bugs ---------------------------------------------------------------

def test_an_internal_error_is_called_a_bug_with_its_own_exit_code(capsys, monkeypatch):
    def broken(args):
        raise RuntimeError("something symce did not expect")

    monkeypatch.setattr(cli, "_run_export", broken)
    assert main(["export", "softmax-ce"]) == cli.EXIT_INTERNAL == 3
    assert one_line(capsys.readouterr().err) == (
        "symce: internal error (a bug in symce, not in the input; please report it): "
        "RuntimeError: something symce did not expect")
