"""Shared part of tools/uvloop_suite.py and tools/cpython_suite.py: run test
files one per child process, bounded, and count the results.

Each file runs as ``python -m pytest -p _suite_plugin FILE`` in its own
process group, with pytest-timeout per test (signal method: a timed-out test
fails and the file goes on), and without pytest's output capture (tests that
redirect their own stdout fail under it, on every loop); the output goes to
the file's log. The runner follows the plugin's result records
as they are written and ends the process group when

- a test has run past the per-test timeout plus a grace period (the timeout
  could not interrupt it): the test is counted ``hung`` and the file is
  started again without the tests that already have a result;
- the test session has finished but the process has not exited within
  ``EXIT_GRACE`` seconds: the file is reported ``stuck at exit`` with the
  threads that were still alive;
- the file has run longer than the per-file limit.

A test's status is one of passed, failed, error (setup/teardown), skipped,
xfailed, hung (timed out or killed). A test that passed without creating a
loop of the loop under test is counted apart as ``no-loop`` (CPython's suite
builds many of its loops itself): it says nothing about that loop. One that
failed counts as failed all the same (the policy alone can make a test fail),
marked "no loop created" in the list.
"""

import collections
import json
import os
import signal
import subprocess
import sys
import time

TOOLS = os.path.dirname(os.path.abspath(__file__))
EXIT_GRACE = 30.0
KILL_GRACE = 45.0
STATUSES = ("passed", "failed", "error", "skipped", "xfailed", "hung")


def engine_of(python, env):
    """The ioloop engine that ``python`` imports with ``env``, and where from."""
    code = ("import ioloop, os; print(ioloop.implementation, "
            "os.path.dirname(ioloop.__file__))")
    r = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True,
                       cwd="/", timeout=120)
    if r.returncode != 0:
        raise SystemExit(f"cannot import ioloop with {python}: {r.stderr.strip()[-500:]}")
    impl, where = r.stdout.split(None, 1)
    return impl, where.strip()


class FileRun:
    def __init__(self, name):
        self.name = name
        self.tests = {}          # nodeid -> record
        self.excluded = {}       # nodeid -> reason
        self.unparametrised = []
        self.other_selector = 0
        self.collect_errors = []
        self.stuck_at_exit = None  # list of thread names
        self.timed_out = False
        self.crashed = []        # notes
        self.seconds = 0.0
        self.restarts = 0


def _read_new(path, pos):
    try:
        with open(path) as f:
            f.seek(pos)
            data = f.read()
    except FileNotFoundError:
        return [], pos
    # Only whole lines.
    end = data.rfind("\n")
    if end < 0:
        return [], pos
    lines = data[:end].splitlines()
    return [json.loads(ln) for ln in lines if ln.strip()], pos + end + 1


def _kill(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run_file(*, python, path, name, cwd, env, control, work, timeout, file_timeout,
             pytest_args=(), log=print):
    """Run one test file to the end (restarting past hard hangs)."""
    fr = FileRun(name)
    os.makedirs(work, exist_ok=True)
    base = os.path.join(work, name.replace("/", "_"))
    results = base + ".jsonl"
    logfile = base + ".log"
    ctl_path = base + ".control.json"
    for p in (results, logfile):
        if os.path.exists(p):
            os.unlink(p)
    t_file = time.monotonic()
    deselect = set(control.get("deselect", []))
    attempts = 0
    pos = 0
    while True:
        attempts += 1
        with open(ctl_path, "w") as f:
            json.dump({"excluded": control.get("excluded", {}),
                       "deselect": sorted(deselect)}, f)
        env2 = dict(env)
        env2["IOLOOP_SUITE_RESULTS"] = results
        env2["IOLOOP_SUITE_CONTROL"] = ctl_path
        cmd = [python, "-m", "pytest", "-p", "_suite_plugin", "-p", "no:cacheprovider",
               "-q", "-rN", "--capture=no", "--timeout", str(timeout),
               "--timeout-method", "signal",
               "-o", "addopts=", "--color=no", *pytest_args, path]
        with open(logfile, "a") as lf:
            lf.write(f"\n### attempt {attempts}: {' '.join(cmd)}\n")
            lf.flush()
            proc = subprocess.Popen(cmd, cwd=cwd, env=env2, stdout=lf, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        current = None
        finished_at = None
        session_threads = None
        hard_hang = None
        killed_for = None
        while True:
            recs, pos = _read_new(results, pos)
            for r in recs:
                k = r["kind"]
                if k == "start":
                    current = (r["nodeid"], time.monotonic())
                elif k == "test":
                    fr.tests[r["nodeid"]] = r
                    current = None
                elif k == "excluded":
                    fr.excluded[r["nodeid"]] = r["reason"]
                elif k == "unparametrised":
                    if r["nodeid"] not in fr.unparametrised:
                        fr.unparametrised.append(r["nodeid"])
                elif k == "other_selector":
                    fr.other_selector = max(fr.other_selector, r["count"])
                elif k == "collect_error":
                    fr.collect_errors.append(r)
                elif k == "session" and r["event"] == "finish":
                    finished_at = time.monotonic()
                    session_threads = r.get("threads", [])
            rc = proc.poll()
            if rc is not None:
                break
            now = time.monotonic()
            if current is not None and now - current[1] > timeout + KILL_GRACE:
                hard_hang = current[0]
                killed_for = "test"
                _kill(proc)
                break
            if finished_at is not None and now - finished_at > EXIT_GRACE:
                killed_for = "exit"
                _kill(proc)
                break
            if now - t_file > file_timeout:
                killed_for = "file"
                _kill(proc)
                break
            time.sleep(0.3)
        recs, pos = _read_new(results, pos)
        for r in recs:
            if r["kind"] == "test":
                fr.tests[r["nodeid"]] = r
                if current and current[0] == r["nodeid"]:
                    current = None
        if killed_for == "exit":
            fr.stuck_at_exit = session_threads or []
            log(f"  {name}: stuck at exit ({EXIT_GRACE:.0f}s after the session finished); "
                f"threads alive: {', '.join(session_threads or []) or '?'}")
            break
        if killed_for == "test":
            fr.tests[hard_hang] = {"nodeid": hard_hang, "status": "hung", "loops": None,
                                   "error": f"killed: no result {timeout + KILL_GRACE:.0f}s "
                                            f"after it started (timeout could not interrupt it)",
                                   "longrepr": "", "seconds": None}
            log(f"  {name}: {hard_hang} killed after {timeout + KILL_GRACE:.0f}s; restarting the "
                f"file without the {len(fr.tests)} tests done")
            deselect |= set(fr.tests)
            fr.restarts += 1
            continue
        if killed_for == "file":
            fr.timed_out = True
            if current is not None:
                fr.tests[current[0]] = {"nodeid": current[0], "status": "hung", "loops": None,
                                        "error": "killed: the file ran past its time limit",
                                        "longrepr": "", "seconds": None}
            log(f"  {name}: killed after {file_timeout:.0f}s (file time limit)")
            break
        # The process exited by itself.
        if finished_at is None:
            if current is not None:
                fr.tests[current[0]] = {"nodeid": current[0], "status": "error", "loops": None,
                                        "error": f"the test process died (exit status {rc})",
                                        "longrepr": "", "seconds": None}
                fr.crashed.append(f"process died in {current[0]} (exit status {rc})")
                deselect |= set(fr.tests)
                fr.restarts += 1
                log(f"  {name}: process died in {current[0]} (status {rc}); restarting")
                continue
            if rc not in (0, 1, 5):
                fr.crashed.append(f"pytest exit status {rc} (see {logfile})")
        break
    fr.seconds = time.monotonic() - t_file
    return fr


def counts(fr, noloop_split=True):
    c = collections.Counter()
    for r in fr.tests.values():
        if noloop_split and r.get("loops") == 0 and r["status"] == "passed":
            c["no-loop"] += 1
        else:
            c[r["status"]] += 1
    c["excluded"] = len(fr.excluded)
    return c


def fmt_counts(c, noloop=True):
    cols = ["passed", "failed", "error", "skipped", "hung"]
    s = " ".join(f"{k}={c.get(k, 0)}" for k in cols)
    if c.get("xfailed"):
        s += f" xfailed={c['xfailed']}"
    if noloop:
        s += f" no-loop={c.get('no-loop', 0)}"
    if c.get("excluded"):
        s += f" excluded={c['excluded']}"
    return s


def to_json(fr):
    return {"file": fr.name, "seconds": round(fr.seconds, 1), "restarts": fr.restarts,
            "stuck_at_exit": fr.stuck_at_exit, "timed_out": fr.timed_out,
            "crashed": fr.crashed, "collect_errors": fr.collect_errors,
            "excluded": fr.excluded, "unparametrised": fr.unparametrised,
            "other_selector": fr.other_selector, "tests": fr.tests}


def short(nodeid):
    return nodeid.split("/")[-1]


def table(runs_by_loop, loops, labels):
    """Markdown table: one row per file, one column per loop with
    passed/failed/error/skipped/hung/no-loop."""
    cols = ["passed", "failed", "error", "skipped", "hung", "no-loop"]
    head = "| file | " + " | ".join(
        f"{labels[lp]}: pass/fail/err/skip/hung/no-loop" for lp in loops) + " | notes |"
    sep = "|---|" + "---|" * len(loops) + "---|"
    rows = [head, sep]
    names = []
    for lp in loops:
        for fr in runs_by_loop[lp]:
            if fr.name not in names:
                names.append(fr.name)
    totals = {lp: collections.Counter() for lp in loops}
    for name in names:
        cells, notes = [], []
        for lp in loops:
            fr = next((f for f in runs_by_loop[lp] if f.name == name), None)
            if fr is None:
                cells.append("")
                continue
            c = counts(fr)
            totals[lp].update(c)
            cells.append(" / ".join(str(c.get(k, 0)) for k in cols))
            if fr.stuck_at_exit is not None:
                notes.append(f"{labels[lp]}: stuck at exit")
                totals[lp]["stuck"] += 1
            if fr.timed_out:
                notes.append(f"{labels[lp]}: file time limit")
            if fr.crashed:
                notes.append(f"{labels[lp]}: {'; '.join(fr.crashed)}")
            if fr.collect_errors:
                notes.append(f"{labels[lp]}: collection error")
            if c.get("excluded"):
                notes.append(f"{c['excluded']} excluded")
        rows.append(f"| {name} | " + " | ".join(cells) + " | " + "; ".join(dict.fromkeys(notes))
                    + " |")
    tot = [" / ".join(f"{totals[lp].get(k, 0)}" for k in cols) for lp in loops]
    notes = "; ".join(f"{labels[lp]}: {totals[lp]['stuck']} stuck at exit" for lp in loops
                      if totals[lp]["stuck"])
    rows.append("| **total** | " + " | ".join(f"**{t}**" for t in tot) + f" | {notes} |")
    return "\n".join(rows)


def failure_list(runs, *, other=None, only_loop_tests=True):
    """Lines ``- nodeid: status: first error line`` for every non-passing
    test; with ``other`` (the other loop's runs), say when it fails there too."""
    other_tests = {}
    for fr in other or ():
        other_tests.update(fr.tests)
    out = []
    for fr in runs:
        for nodeid, r in sorted(fr.tests.items()):
            if r["status"] in ("passed", "skipped", "xfailed"):
                continue
            tag = ""
            if r.get("loops") == 0:
                tag = " (no loop created)"
            o = other_tests.get(nodeid)
            if other is not None:
                if o is None:
                    tag += " [reference: not run]"
                elif o["status"] not in ("passed", "skipped", "xfailed"):
                    tag += f" [reference: {o['status']} too]"
            out.append(f"- `{short(nodeid)}`: **{r['status']}**{tag}: {r.get('error', '')}")
        if fr.stuck_at_exit is not None:
            out.append(f"- `{fr.name}`: **stuck at exit**; threads alive: "
                       f"{', '.join(fr.stuck_at_exit) or '?'}")
    return out


def main_loop(*, files, loops, make_env, python, cwd, work, timeout, file_timeout, labels,
              control_for, pytest_args, title, json_out, jobs=1):
    """Run every file on every loop, print the tables, return {loop: [FileRun]}."""
    runs = {lp: [] for lp in loops}
    t0 = time.monotonic()
    for lp in loops:
        env = make_env(lp)
        print(f"== {labels[lp]}: {len(files)} files, {timeout}s per test", flush=True)
        todo = list(files)
        if jobs <= 1:
            for name, path in todo:
                fr = run_file(python=python, path=path, name=name, cwd=cwd, env=env,
                              control=control_for(lp, name), work=os.path.join(work, lp),
                              timeout=timeout, file_timeout=file_timeout,
                              pytest_args=pytest_args)
                print(f"  {name}: {fmt_counts(counts(fr))} ({fr.seconds:.0f}s)", flush=True)
                runs[lp].append(fr)
        else:
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(jobs) as ex:
                futs = [(name, ex.submit(run_file, python=python, path=path, name=name, cwd=cwd,
                                         env=env, control=control_for(lp, name),
                                         work=os.path.join(work, lp), timeout=timeout,
                                         file_timeout=file_timeout, pytest_args=pytest_args))
                        for name, path in todo]
                for name, fut in futs:
                    fr = fut.result()
                    print(f"  {name}: {fmt_counts(counts(fr))} ({fr.seconds:.0f}s)", flush=True)
                    runs[lp].append(fr)
    elapsed = time.monotonic() - t0
    if json_out:
        os.makedirs(os.path.dirname(os.path.abspath(json_out)), exist_ok=True)
        with open(json_out, "w") as f:
            json.dump({"title": title, "labels": labels, "loops": loops,
                       "runs": {lp: [to_json(fr) for fr in runs[lp]] for lp in loops}}, f,
                      indent=1)
    report(runs, loops, labels, title)
    print(f"({elapsed:.0f}s in all)")
    if json_out:
        print(f"results: {json_out}")
    return runs


def report(runs, loops, labels, title):
    print()
    print(f"## {title}")
    print()
    print(table(runs, loops, labels))
    print()
    for lp in loops:
        others = [o for o in loops if o != lp]
        other = runs[others[0]] if others else None
        lines = failure_list(runs[lp], other=other)
        print(f"### Not passing on {labels[lp]} ({len(lines)})")
        print()
        print("\n".join(lines) if lines else "(none)")
        print()


def from_json(path, excluded):
    """Re-read a ``--json`` file: {loop: [FileRun]}, loops, labels, title.
    Tests that the current exclusion table covers are moved to excluded."""
    with open(path) as f:
        data = json.load(f)
    runs = {}
    for lp, frs in data["runs"].items():
        runs[lp] = []
        for d in frs:
            fr = FileRun(d["file"])
            fr.seconds = d["seconds"]
            fr.restarts = d["restarts"]
            fr.stuck_at_exit = d["stuck_at_exit"]
            fr.timed_out = d["timed_out"]
            fr.crashed = d["crashed"]
            fr.collect_errors = d["collect_errors"]
            fr.excluded = dict(d["excluded"])
            fr.unparametrised = d["unparametrised"]
            fr.other_selector = d["other_selector"]
            for nodeid, r in d["tests"].items():
                reason = excluded_reason(nodeid, excluded)
                if reason is not None:
                    fr.excluded[nodeid] = reason
                else:
                    fr.tests[nodeid] = r
            runs[lp].append(fr)
    loops = data.get("loops") or list(runs)
    return runs, loops, data["labels"], data["title"]


def excluded_reason(nodeid, excluded):
    """A key names a file (``test_x.py``), a class (``test_x.py::Cls``) or a
    test (``test_x.py::Cls::test_y``)."""
    rel = nodeid.rsplit("/", 1)[-1]
    for key, reason in excluded.items():
        if rel == key or rel.startswith(key + "::"):
            return reason
    return None


def python_env(extra=None, pythonpath=()):
    """The environment for the child processes: the caller's, with
    PYTHONPATH set to exactly ``pythonpath`` (never the repository's src/)."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    paths = [TOOLS, *pythonpath]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    return env


def default_python():
    return sys.executable
