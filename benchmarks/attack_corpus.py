"""Run symce's own attack corpus (issue 10) and print one line per case, then the totals.

Each case is a command run as a user would run it, in a fresh folder, under a wall-clock
bound. A case passes when the exit code is the documented one for it, stderr is at most
one line with no traceback and no internal error, nothing is left running in its folder,
no file but the named output was written, and no input changed. Peak memory is the
largest resident set of symce or any of its workers (``RUSAGE_CHILDREN`` of a wrapper
process that runs symce and waits for it).

    .venv/bin/python benchmarks/attack_corpus.py            # all cases
    .venv/bin/python benchmarks/attack_corpus.py tower      # cases whose name contains "tower"
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = (ROOT / "derivations" / "softmax_cross_entropy_k3.toml").read_text()
BOUND = 90.0  # seconds: a case still running then is a hang

FILE = '''title = {title}
[symbols]
k = "symbolic"
indices = ["i", "j", "c"]
vectors = {{ z = "real", y = "real" }}
{extra}
[[chains]]
name = "x"
{chain}start = {start}
steps = [{{ expr = {step}, reason = {reason} }}]
'''


def toml(start="Derivative(exp(z[i]), z[i])", step="exp(z[i])", reason="r", extra="", chain="", title="t"):
    return FILE.format(start=json.dumps(start), step=json.dumps(step), reason=json.dumps(reason),
                       extra=extra, chain=chain, title=json.dumps(title))


BODY = ("sqrt((z[i] + z[j])**2 + 1) * log(z[i]**2 + z[j]**4 + 1)**3 * exp(z[i]*z[j]) "
        "/ (z[i]**6 + z[j]**2 + 3)")
SLOW = toml(start=f"Derivative({BODY}, z[i], z[i], z[i], z[i], z[i], z[i], z[j])",
            step=f"Derivative({BODY}, z[j], z[i], z[i], z[i], z[i], z[i], z[i])")
TOWER = "((((((10**29*z[i]))**64)**64)**64)**64)**64"

CODE = [
    "__import__('os').system('touch pwned')", "().__class__.__bases__[0].__subclasses__()", "exec('1')",
    "eval('1')", "open('/etc/passwd').read()", "z.__getitem__(1)", "lambda: 1", "[c for c in ()]",
    "getattr(z, 'x')", "globals()", "__builtins__", "(lambda: 0)()", "f'{1}'", "b'x'", "'a' * 10",
    "Sum.__globals__", "exp.__code__", "z[i].func", "*z", "(i := 1)", "breakpoint()",
    "compile('1', 'f', 'eval')", "sympify('1')", "Function('f')(z[i])", "exp(z[i]).subs(z[i], 1)",
    "z[i] if 1 else 0", "__import__", "z[i].__class__.__mro__", "exp(*[z[i]])", "exp(x=z[i])",
    "{}.keys()", "[1][0]", "(1).__add__(2)", "Sum(z[j], (j, 1, __import__('os').getpid()))",
    "ｅｘｐ(z[i])", "exp(z[i]) # comment", "yield 1", "await z",
]


def cases() -> list[dict]:
    """Every case: files to create, the command, the exit codes it may end with, and a class."""
    out = []

    def add(cls, name, args, codes, files=None, output=None, signal_after=None, stdout="pipe"):
        out.append(dict(cls=cls, name=name, args=args, codes=set(codes), files=files or {}, output=output,
                        signal_after=signal_after, stdout=stdout))

    good = {"f.toml": REFERENCE}
    # code execution: in a step, a start, a definition, a case, a reason's math, an assumption
    for n, text in enumerate(CODE):
        # A comment is no code: "exp(z[i]) # comment" is read as exp(z[i]), a true step.
        add("code", f"code-step-{n}", ["check", "f.toml"], [0] if "#" in text else [2], {"f.toml": toml(step=text)})
    add("code", "code-definition", ["check", "f.toml"], [2],
        {"f.toml": toml(extra="[definitions]\n\"s[i]\" = \"__import__('os')\"")})
    add("code", "code-case", ["check", "f.toml"], [2], {"f.toml": toml(extra='[cases]\nc = "Eq(i, z.__len__())"')})
    add("code", "code-reason", ["latex", "f.toml"], [2], {"f.toml": toml(reason="see `__import__('os')`")})
    add("code", "code-assumption", ["check", "f.toml"], [2], {"f.toml": 'assumptions = ["__import__(y)"]\n' + toml()})
    add("code", "code-target", ["check", "f.toml"], [2],
        {"f.toml": toml(extra='[definitions]\n"().__class__" = "1"')})
    # resource exhaustion, in symce's own process and in its workers
    res = {
        "tower-step": toml(step=TOWER), "tower-start": toml(start=TOWER),
        "tower-case": toml(extra='[cases]\nc = "Eq(i, ((((((10**29*k))**64)**64)**64)**64)**64)"'),
        "tower-definition": toml(extra=f'[definitions]\nL = "{TOWER}"'),
        "tower-vector": toml(start=f"{TOWER} + z[i]", step=f"{TOWER} + z[i]", chain='vector = "i"\n'),
        "tower-reason": toml(reason=f"see `{TOWER}`"),
        "exp-log-tower": toml(step="exp(2**60*log(10))"), "exp-log-64": toml(step="exp(64*64*64*log(10**29))"),
        "delta-tower": toml(step="KroneckerDelta(((i*10**29)**64)**64, j)"),
        "index-tower": toml(step="z[((i*10**29)**64)**64]"), "sum-range": toml(step="Sum(2**j, (j, 1, 10**29))"),
        "sum-faulhaber": toml(step="Sum(j**64, (j, 1, 10**29))"), "symbolic-exponent": toml(step="2**(i**64)"),
        "nested-sums": toml(step="Sum(" * 9 + "z[j]" + ", (j, 1, k))" * 9),
        "int-literal": toml(step="1" * 40), "float-huge": toml(step="1e300**64"), "power-4097": toml(step="2**4097"),
        "nine-tower": toml(step="9**9**9**9"), "long-expression": toml(step="z[i] + " * 1000 + "1"),
        "many-nodes": toml(step="+".join(["z[i]"] * 300)), "deep-parens": toml(step="(" * 300 + "1" + ")" * 300),
        "deep-unary": toml(step="-" * 290 + "z[i]"),
        "node-budget": toml().replace('steps = [{ expr = "exp(z[i])", reason = "r" }]', "steps = [" + ", ".join(
            f'{{ expr = "exp(z[i] - {n}) / Sum(exp(z[j] - {n}), (j, 1, k))", reason = "r" }}' for n in range(400))
            + "]"),
        "many-cases": toml(extra="[cases]\n" + "\n".join(f'c{n} = "Eq(i, 1)"' for n in range(201))),
        "many-indices": toml().replace('indices = ["i", "j", "c"]', "indices = " + json.dumps(
            [f"n{n}" for n in range(250)] + ["i", "j", "c"])),
        "many-steps": toml().replace('steps = [{ expr = "exp(z[i])", reason = "r" }]', "steps = [" + ", ".join(
            ['{ expr = "exp(z[i])", reason = "r" }'] * 501) + "]"),
        "toml-deep-arrays": "title = " + "[" * 5000 + "]" * 5000 + "\n",
        "toml-deep-tables": 'title = "t"\nx = ' + "{a=" * 3000 + "1" + "}" * 3000 + "\n",
        "toml-100k-arrays": "".join(f"a{n} = [" + ",".join(["1"] * 499) + "]\n" for n in range(99)),
        "file-2mb": REFERENCE + "# " + "x" * 2_000_000 + "\n",
        "long-reason": toml(reason="x" * 90_000), "many-backticks": toml(reason="`z[i]` " * 40),
        "definition-chain": toml(step="D5", extra="[definitions]\nD1 = \"(10**29*z[i])**64\"\n" + "\n".join(
            f'D{n + 1} = "D{n}**64"' for n in range(1, 5))),
    }
    judged = {"deep-unary": 1, "long-reason": 0, "definition-chain": 1}
    for name, text in res.items():
        # Within the caps, a file is judged: the definition chain is read (each definition is
        # small) and reaches its size only in a worker, which the time or memory limit stops.
        add("resource", name, ["check", "f.toml", "--timeout", "5"], [judged.get(name, 2)], {"f.toml": text})
    add("resource", "slow-step-timeout", ["check", "f.toml", "--timeout", "3"], [1], {"f.toml": SLOW})
    add("resource", "slow-step-memory", ["check", "f.toml", "--timeout", "20", "--memory", "64"], [1],
        {"f.toml": SLOW})
    add("resource", "sparse-huge-file", ["check", "f.toml"], [2], {"f.toml": ("sparse", 10**10)})
    # paths
    add("path", "missing", ["check", "nope.toml"], [2])
    add("path", "empty-folder", ["check", "d"], [2], {"d/": None})
    add("path", "folder-with-fifo", ["check", "d"], [2], {"d/x.toml": ("fifo", 0)})
    add("path", "fifo-input", ["check", "p.toml"], [2], {"p.toml": ("fifo", 0)})
    add("path", "dev-zero", ["check", "/dev/zero"], [2])
    add("path", "dev-urandom", ["latex", "/dev/urandom"], [2])
    add("path", "proc-environ", ["check", "/proc/self/environ"], [2])
    add("path", "dangling-link", ["check", "l.toml"], [2], {"l.toml": ("link", "nowhere.toml")})
    add("path", "looping-link", ["check", "a.toml"], [2], {"a.toml": ("link", "b.toml"), "b.toml": ("link", "a.toml")})
    add("path", "not-utf8", ["check", "f.toml"], [2], {"f.toml": b"title = \"\xff\xfe\"\n"})
    add("path", "newline-name", ["check", "a\nb.toml"], [2], {"a\nb.toml": "x"})
    add("path", "escape-name", ["check", "\x1b[2J.toml"], [2], {"\x1b[2J.toml": "x"})
    add("path", "empty-path", ["check", ""], [2])
    # argparse (3.11) loses "--" before a subcommand's arguments: refused, on one line; ./-f.toml works.
    add("path", "dash-path", ["check", "--", "-f.toml"], [2], {"-f.toml": REFERENCE})
    add("path", "dot-dash-path", ["check", "./-f.toml"], [0], {"-f.toml": REFERENCE})
    add("path", "folder-of-files", ["check", "d"], [0], {"d/a.toml": REFERENCE, "d/b.toml": REFERENCE})
    add("path", "bidi-title", ["check", "f.toml"], [2], {"f.toml": toml(title="x \u202e y")})
    add("path", "ansi-reason", ["check", "f.toml"], [2], {"f.toml": toml(reason="red \x1b[31m")})
    # -o abuse
    add("output", "o-onto-input", ["latex", "f.toml", "-o", "f.toml"], [2], good)
    add("output", "o-symlink-to-input", ["latex", "f.toml", "-o", "l.tex"], [2],
        {**good, "l.tex": ("link", "f.toml")})
    add("output", "o-input-via-symlink", ["latex", "l.toml", "-o", "f.toml"], [2], {**good, "l.toml": ("link", "f.toml")})
    add("output", "o-hardlink-of-input", ["latex", "f.toml", "-o", "h.tex"], [2], {**good, "h.tex": ("hard", "f.toml")})
    add("output", "o-dotted-input", ["latex", "f.toml", "-o", "d/../f.toml"], [2], {**good, "d/": None})
    add("output", "o-folder", ["latex", "f.toml", "-o", "d"], [2], {**good, "d/": None})
    add("output", "o-missing-folder", ["export", "softmax-ce", "-o", "no/such/x.py"], [2])
    add("output", "o-empty", ["export", "softmax-ce", "-o", ""], [2])
    add("output", "o-fifo-no-reader", ["export", "softmax-ce", "-o", "p"], [2], {"p": ("fifo", 0)})
    add("output", "o-dev-null", ["export", "softmax-ce", "-o", "/dev/null"], [0])
    add("output", "o-dev-stdout", ["export", "softmax-ce", "-o", "/dev/stdout"], [0])
    add("output", "o-new-file", ["latex", "f.toml", "-o", "out.tex"], [0], good, output="out.tex")
    add("output", "o-replace-file", ["export", "softmax-ce", "-o", "old.py"], [0], {"old.py": "old"},
        output="old.py")
    add("output", "o-symlink-other", ["export", "softmax-ce", "-o", "l.py"], [0],
        {"t.py": "old", "l.py": ("link", "t.py")}, output="t.py")
    add("output", "o-failing-check", ["latex", "f.toml", "-o", "out.tex"], [1],
        {"f.toml": toml(step="2*exp(z[i])")})
    # command-line fuzz
    cli = [
        ([], [2]), (["bogus"], [2]), (["check"], [2]), (["check", "f.toml", "--timeout", "nan"], [2]),
        (["check", "f.toml", "--timeout", "inf"], [2]), (["check", "f.toml", "--timeout", "-1"], [2]),
        (["check", "f.toml", "--timeout", "0"], [2]), (["check", "f.toml", "--timeout", "1e400"], [2]),
        (["check", "f.toml", "--memory", "0"], [2]), (["check", "f.toml", "--memory", "abc"], [2]),
        (["prove", "softmax-ce", "--k", "0"], [2]), (["prove", "softmax-ce", "--k", "20001"], [2]),
        (["prove", "softmax-ce", "--k", "abc"], [2]), (["prove", "softmax-ce"], [2]),
        (["prove", "softmax-ce", "--k", "3", "--symbolic"], [2]), (["latex", "f.toml", "--format", "pdf"], [2]),
        (["export", "softmax-ce", "--backend", "cuda"], [2]), (["export", "nope"], [2]),
        (["check", "f.toml", "--json", "f.toml"], [0]), (["check", "--json", "f.toml"], [0]),
        (["check", "f.toml", "--all-k", "--allow-numeric"], [0]), (["--help"], [0]), (["check", "-h"], [0]),
        (["check", "f.toml", "--unknown"], [2]), (["check", "x" * 100_000], [2]),
        (["prove", "softmax-ce", "--k", "3", "--k", "4"], [0]), (["latex", "f.toml", "extra"], [2]),
    ]
    for n, (args, codes) in enumerate(cli):
        add("cli", f"cli-{n}-{' '.join(args)[:30]}", args, codes, good)
    # signals and broken pipes
    for sig in ("SIGTERM", "SIGHUP", "SIGINT"):
        add("signal", f"{sig}-during-check", ["check", "f.toml", "--timeout", "600"],
            [128 + getattr(signal, sig)], {"f.toml": SLOW}, signal_after=sig)
    add("signal", "SIGKILL-during-check", ["check", "f.toml", "--timeout", "600"], [-9], {"f.toml": SLOW},
        signal_after="SIGKILL")
    for args in (["check", "f.toml"], ["latex", "f.toml"], ["export", "softmax-ce"], ["prove", "softmax-ce", "--k", "3"]):
        add("signal", f"broken-pipe-{args[0]}", args, [141], good, stdout="broken")
        add("signal", f"closed-stdout-{args[0]}", args, [0], good, stdout="closed")
    # determinism: the same command twice gives the same output (timings aside)
    for args in (["check", "f.toml"], ["check", "f.toml", "--json"], ["latex", "f.toml"],
                 ["latex", "f.toml", "--format", "md"], ["export", "softmax-ce", "--backend", "jax"],
                 ["prove", "softmax-ce", "--k", "5"], ["check", "w.toml"], ["latex", "u.toml", "--standalone"]):
        add("determinism", f"twice-{' '.join(args)}", args, [0, 1],
            {**good, "w.toml": toml(step="2*exp(z[i])"),
             "u.toml": toml(title="Naïve α ≠ β", reason="café ≤ ∞ `z[i]`")}, stdout="twice")
    return out


WRAPPER = r"""
import os, resource, subprocess, sys, json, signal, time
args, sig, stdout_mode = json.loads(sys.argv[1])
signal.signal(signal.SIGINT, signal.SIG_DFL)  # a background job starts with SIGINT ignored; a terminal's does not
kw = {}
if stdout_mode == "closed":
    kw["preexec_fn"] = lambda: os.close(1)
    out = None
elif stdout_mode == "broken":
    r, w = os.pipe(); os.close(r); out = w
else:
    out = subprocess.PIPE
start = time.monotonic()
p = subprocess.Popen([sys.executable, "-m", "symce", *args], stdout=out, stderr=subprocess.PIPE,
                     stdin=subprocess.DEVNULL, **kw)
if sig:
    time.sleep(6)  # the worker is busy by then
    p.send_signal(getattr(signal, sig))
o, e = p.communicate()
seconds = time.monotonic() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps([p.returncode, (o or b"").decode("utf-8", "replace"), e.decode("utf-8", "replace"), seconds, peak]))
"""


def _make(folder: Path, files: dict) -> None:
    for name, content in files.items():
        path = folder / name
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple):
            kind, value = content
            if kind == "fifo":
                os.mkfifo(path)
            elif kind == "link":
                os.symlink(value, path)
            elif kind == "hard":
                os.link(folder / value, path)
            elif kind == "sparse":
                with open(path, "wb") as fh:
                    fh.truncate(value)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def _snapshot(folder: Path) -> dict:
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            out[rel] = "link:" + os.readlink(path)
        elif path.is_file() and path.stat().st_size < 10**7:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[rel] = "other"
    return out


def _left_running(folder: Path) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/cwd") == str(folder):
                    state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
                    if state != "Z":
                        found.append(int(entry))
            except OSError:
                continue
    return found


def _steady(text: str) -> str:
    """Output with its wall-clock figures taken out (the only part allowed to differ)."""
    import re
    return re.sub(r"\d+\.\d+ s\b|\"seconds\": [\d.e-]+|proof time: .*|\(\d+\.\d+ s\)", "T", text)


def run(case: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp).resolve()
        _make(folder, case["files"])
        before = _snapshot(folder)
        mode = case["stdout"] if case["stdout"] in ("closed", "broken") else "pipe"
        runs = 2 if case["stdout"] == "twice" else 1
        results = []
        for _ in range(runs):
            try:
                raw = subprocess.run([sys.executable, "-c", WRAPPER, json.dumps([case["args"], case["signal_after"],
                                                                                 mode])],
                                     cwd=folder, capture_output=True, text=True, timeout=BOUND).stdout
                results.append(json.loads(raw))
            except subprocess.TimeoutExpired:
                results.append([None, "", "HANG", BOUND, 0])
        code, out, err, seconds, peak = results[0]
        time.sleep(0.2)
        left = _left_running(folder)
        after = _snapshot(folder)
        changed = {n for n in set(before) | set(after) if before.get(n) != after.get(n)}
        problems = []
        if code not in case["codes"]:
            problems.append(f"exit {code}, expected {sorted(case['codes'])}")
        if "Traceback" in err or "internal error" in err or err == "HANG":
            problems.append("traceback/internal/hang: " + err[-120:])
        if err.count("\n") > 1 and not err.startswith("usage:") and "usage:" not in err:
            problems.append("stderr over one line")
        if left:
            problems.append(f"left running: {left}")
        if changed - ({case["output"]} if case["output"] else set()):
            problems.append(f"files changed: {sorted(changed)}")
        if runs == 2 and _steady(results[0][1]) != _steady(results[1][1]):
            problems.append("output differs between two runs")
        return dict(name=case["name"], cls=case["cls"], code=code, seconds=seconds, peak_mb=peak / 1024,
                    ok=not problems, problems=problems, err=err.strip()[:100])


def main(pattern: str = "") -> int:
    selected = [c for c in cases() if pattern in c["name"]]
    results = []
    for case in selected:
        r = run(case)
        results.append(r)
        print(f"{'ok  ' if r['ok'] else 'FAIL'} {r['cls']:11} {r['name'][:38]!r:40} exit {str(r['code']):>4} "
              f"{r['seconds']:6.2f} s {r['peak_mb']:7.1f} MB  {'; '.join(r['problems']) or r['err'][:60]!r}",
              flush=True)
    by = {}
    for r in results:
        by.setdefault(r["cls"], []).append(r)
    print(f"\n{'class':12} {'cases':>5} {'ok':>4} {'max s':>7} {'peak MB':>8}")
    for cls, rs in by.items():
        print(f"{cls:12} {len(rs):5} {sum(r['ok'] for r in rs):4} {max(r['seconds'] for r in rs):7.2f} "
              f"{max(r['peak_mb'] for r in rs):8.1f}")
    print(f"{'all':12} {len(results):5} {sum(r['ok'] for r in results):4} "
          f"{max(r['seconds'] for r in results):7.2f} {max(r['peak_mb'] for r in results):8.1f}")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ""))
