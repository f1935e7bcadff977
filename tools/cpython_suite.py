"""Run CPython's own asyncio tests (``Lib/test/test_asyncio`` of the Python
that runs them) on ioloop, and on stock asyncio as the reference.

    python tools/cpython_suite.py                     # both loops, 21 files
    python tools/cpython_suite.py --loop ioloop --files test_events,test_streams
    IOLOOP_NO_EXTENSIONS=1 python tools/cpython_suite.py --loop ioloop

Needs, in the Python that runs them (``--python``, default: this one): ioloop
installed (``pip install .``: never a source checkout on PYTHONPATH),
``pytest`` and ``pytest-timeout``, and the interpreter's ``test`` package
(some distributions strip it; pyenv and python.org builds have it).

How the loop under test gets in (``tools/_suite_plugin.py``), for the ioloop
run and, counted the same way, for the reference run:

- before every test the asyncio policy is ``ioloop.EventLoopPolicy`` (the
  files reset it to None in their tearDown/tearDownModule), so
  ``asyncio.new_event_loop()``, ``asyncio.run()``, ``asyncio.Runner`` and
  ``IsolatedAsyncioTestCase`` make ioloop loops;
- a test class's loop hook (``create_event_loop``, ``new_loop``) that builds a
  real asyncio loop (``SelectorEventLoop(...)``/``new_event_loop()``) returns
  ``ioloop.new_event_loop()`` instead.

Loops that the tests build themselves are left alone: ``new_test_loop()``
(asyncio's ``TestLoop`` with a virtual clock), ``asyncio.SelectorEventLoop()``
constructed in a test, mock-driven ``BaseEventLoop``s. A test that passed
without creating a loop of the loop under test is counted ``no-loop``: it
says nothing about ioloop (a failing one counts as failed: the policy alone
can make a test fail). The per-selector copies of a
test class (Poll/Select next to EPoll) are one class on another loop: only
the epoll/default one runs, on both loops.

``INTERNALS`` lists tests that do create a loop of the loop under test but
assert on asyncio's private internals (they are left out of both runs, each
with its reason); nothing that merely fails is left out.

Each file runs in its own process, each test under pytest-timeout
(``--timeout``, 30 s); see tools/uvloop_suite.py for how hangs are handled.
"""

import argparse
import datetime
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _suite_runner as sr  # noqa: E402

FILES = [
    "test_events", "test_base_events", "test_sock_lowlevel", "test_sendfile", "test_server",
    "test_streams", "test_subprocess", "test_ssl", "test_sslproto", "test_tasks",
    "test_futures", "test_locks", "test_queues", "test_taskgroups", "test_timeouts",
    "test_runners", "test_unix_events", "test_buffered_proto", "test_context",
    "test_waitfor", "test_pep492",
]

# Tests that run on a loop of the loop under test but read or patch asyncio's
# own private internals, {test id: reason}.
INTERNALS = {
    "test_events.py::EPollEventLoopTests::test_timeout_rounding":
        "replaces BaseEventLoop._run_once and reads loop._clock_resolution and loop._selector "
        "to count selector iterations",
    "test_events.py::EPollEventLoopTests::test_create_server_multiple_hosts_ipv4":
        "mock-patches the socket module inside asyncio.base_events and "
        "BaseEventLoop._start_serving/_stop_serving",
    "test_events.py::EPollEventLoopTests::test_create_server_multiple_hosts_ipv6":
        "mock-patches the socket module inside asyncio.base_events and "
        "BaseEventLoop._start_serving/_stop_serving",
    "test_unix_events.py::SelectorEventLoopUnixSockSendfileTests":
        "drives asyncio's private _sock_sendfile_native()/_sock_sendfile_native_impl() "
        "directly, reads loop._selector, and mock-patches the os module inside "
        "asyncio.unix_events",
}


def locate(python):
    r = subprocess.run([python, "-c", "import os, test.test_asyncio as t; "
                                      "print(os.path.dirname(t.__file__))"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{python} has no test.test_asyncio package (its 'test' package is "
                         f"stripped?): {r.stderr.strip()[-300:]}")
    return r.stdout.strip()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loop", choices=("ioloop", "reference", "both"), default="both")
    ap.add_argument("--python", default=sys.executable,
                    help="the Python (venv) with ioloop and pytest installed")
    ap.add_argument("--files", help="comma-separated test modules (default: the 21 listed)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per test")
    ap.add_argument("--file-timeout", type=float, default=2400.0, help="seconds per file")
    ap.add_argument("--json", help="write every result (tracebacks included) here")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="files run at once")
    ap.add_argument("--from-json", metavar="PATH",
                    help="run nothing: print the tables of a saved --json run again (with the "
                         "current exclusions and counting rules)")
    ap.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = ap.parse_args(argv)

    if args.from_json:
        runs, loops, labels, title = sr.from_json(args.from_json, INTERNALS)
        sr.report(runs, loops, labels, title)
        return 0

    python = args.python
    tdir = locate(python)
    libdir = os.path.dirname(os.path.dirname(tdir))
    names = FILES
    if args.files:
        names = [f.strip().removesuffix(".py") for f in args.files.split(",") if f.strip()]
    missing = [n for n in names if not os.path.isfile(os.path.join(tdir, n + ".py"))]
    if missing:
        print(f"not in {tdir}: {', '.join(missing)} (skipped)")
    names = [n for n in names if n not in missing]

    work = tempfile.mkdtemp(prefix="cpython-suite-")
    scratch = os.path.join(work, "cwd")  # the tests create files in the working directory
    os.makedirs(scratch)
    ini = os.path.join(work, "pytest.ini")
    with open(ini, "w") as f:
        f.write("[pytest]\n")
    files = [(n + ".py", os.path.join(tdir, n + ".py")) for n in names]
    loops = ["ioloop", "reference"] if args.loop == "both" else [args.loop]

    def make_env(lp):
        return sr.python_env({"IOLOOP_SUITE": "cpython", "IOLOOP_SUITE_LOOP": lp})

    labels = {"reference": "asyncio"}
    if "ioloop" in loops:
        impl, where = sr.engine_of(python, make_env("ioloop"))
        labels["ioloop"] = f"ioloop({impl})"
        print(f"ioloop engine: {impl} (from {where})")
    pyver = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                           capture_output=True, text=True).stdout.strip()
    print(f"Python {pyver} ({python}); tests from {tdir}")
    print(f"left out ({len(INTERNALS)}), asyncio internals:")
    for k, v in INTERNALS.items():
        print(f"  {k}: {v}")

    def control_for(lp, name):
        return {"excluded": INTERNALS}

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    title = (f"CPython {pyver} test_asyncio, {stamp}: "
             + " vs ".join(labels[lp] for lp in loops))
    runs = sr.main_loop(files=files, loops=loops, make_env=make_env, python=python, cwd=scratch,
                        work=work, timeout=args.timeout, file_timeout=args.file_timeout,
                        labels=labels, control_for=control_for,
                        pytest_args=["-c", ini, "--rootdir", libdir, *args.pytest_args],
                        title=title, json_out=args.json, jobs=args.jobs)
    others = sum(fr.other_selector for lp in loops[:1] for fr in runs[lp])
    if others:
        print(f"not run: {others} tests of the Poll/Select per-selector copies of a class")
    print(f"per-file logs: {work}")
    bad = any(r["status"] not in ("passed", "skipped", "xfailed")
              for fr in runs.get("ioloop", []) for r in fr.tests.values())
    bad = bad or any(fr.stuck_at_exit is not None or fr.timed_out or fr.crashed
                     for fr in runs.get("ioloop", []))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
