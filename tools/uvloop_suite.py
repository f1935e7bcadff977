"""Run uvloop's own test suite (v0.22.1, its tests/ directory) on ioloop, and
on uvloop itself as the reference.

    python tools/uvloop_suite.py                      # both loops
    python tools/uvloop_suite.py --loop ioloop --files test_tcp.py,test_udp.py
    IOLOOP_NO_EXTENSIONS=1 python tools/uvloop_suite.py --loop ioloop

Needs, in the Python that runs it (``--python``, default: this one): ioloop
installed (``pip install .``: never a source checkout on PYTHONPATH, whose
compiled engine may be missing), ``uvloop==0.22.1`` (the reference, and its
tests import ``uvloop._testbase``), ``pytest`` and ``pytest-timeout``;
``aiohttp`` for test_aiohttp.py (skipped without it).

The tests come from uvloop's source distribution on the package index:
``pip download --no-binary uvloop --no-deps uvloop==0.22.1`` into the cache
directory (``--cache``, default ``~/.cache/ioloop/uvloop-0.22.1``), of which
only ``tests/`` is unpacked. Nothing of uvloop's is edited on disk.

Which tests run: the classes derived from ``uvloop._testbase.UVTestCase``
(``Test_UV_*``, ``TestBaseUV``, ``TestUVSockets``...), on both loops. The
``Test_AIO_*`` classes run stock asyncio whatever the loop, and a few
modules test the ``uvloop`` package itself (``test_sourcecode``,
``test_runner``, ``TestPolicy``): those are not run. For the ioloop run the
pytest plugin (``tools/_suite_plugin.py``) points ``UVTestCase.new_loop`` /
``new_policy`` and the ``uvloop`` module's ``new_event_loop``,
``EventLoopPolicy``, ``run`` and ``install`` at ioloop's, in the test process
and in the Python processes the tests start. ``self.implementation`` stays
``"uvloop"``: ioloop is held to uvloop's behaviour, not asyncio's.

``EXCLUDED`` below lists the tests that use uvloop's private internals and
cannot apply to another loop (both runs leave them out); ``--exclude-file``
adds more (one ``test-id  reason`` per line).

Each file runs in its own process, each test under pytest-timeout
(``--timeout``, 30 s); a test the timeout cannot interrupt is killed and the
file goes on without it; a process that does not exit after its tests is
reported "stuck at exit" with its live threads. The output is a Markdown
table of counts per file and loop, then every test that did not pass with the
first line of its error. ``--json`` keeps everything (tracebacks included).
"""

import argparse
import datetime
import glob
import os
import subprocess
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _suite_runner as sr  # noqa: E402

VERSION = "0.22.1"

# Tests that read uvloop's private internals, {test id: reason}. A bare file
# name covers the whole file.
EXCLUDED = {
    "test_libuv_api.py":
        "reads the loop's libuv handle (uvloop.loop.libuv_get_loop_t_ptr, libuv_get_version)",
    "test_fs_event.py":
        "uvloop-only API: loop._monitor_fs() and uvloop.loop.FileSystemEvent",
    "test_cython.py":
        "imports uvloop.loop._test_coroutine_1, a coroutine compiled into uvloop's own "
        "extension (checks uvloop's Cython build, not the loop)",
    "test_base.py::TestBaseUV::test_default_exc_handler_broken":
        "subclasses uvloop.Loop",
    "test_sockets.py::TestUVSockets::test_socket_sync_remove":
        "opens uvloop's epoll fd through loop._get_backend_id()",
    "test_process.py::Test_UV_Process::test_process_double_close":
        "patches os.pipe/os.dup/os.close while uvloop is imported and asserts the exact "
        "fds uvloop's process spawning closes",
    "test_process.py::Test_UV_Process_Delayed::test_process_delayed_stdio__paused__stdin_pipe":
        "passes __uvloop_sleep_after_fork=True, a private keyword of uvloop's subprocess_shell",
    "test_process.py::Test_UV_Process_Delayed::test_process_delayed_stdio__paused__no_stdin":
        "passes __uvloop_sleep_after_fork=True, a private keyword of uvloop's subprocess_shell",
    "test_tcp.py::Test_UV_TCPSSL::test_flush_before_shutdown":
        "takes uvloop's SSL protocol object from transport.get_extra_info('uvloop.sslproto') "
        "and calls its pause_writing()/resume_writing()",
    "test_tcp.py::Test_UV_TCPSSL::test_remote_shutdown_receives_trailing_data":
        "fills the write backlog with transport._test__append_write_backlog(), a test hook "
        "of uvloop's SSL transport",
}

# Tests that run on ioloop and fail there because ioloop deliberately keeps
# asyncio's behaviour where uvloop's differs, {test id: reason}. They are
# counted as failed in the tables (nothing is hidden) and listed with their
# reason, but do not make the exit status non-zero (a hang or an error still does).
DIFFERS = {
    "test_signals.py::Test_UV_Signals::test_signals_no_SIGCHLD":
        "uvloop refuses add_signal_handler(SIGCHLD) because libuv reaps children with a "
        "SIGCHLD handler; ioloop waits for its children with pidfds, so, as asyncio, it lets "
        "the application handle SIGCHLD",
    "test_tcp.py::Test_UV_TCPSSL::test_shutdown_timeout_handler_not_set":
        "after a TCP EOF without close_notify while reading is paused, uvloop calls "
        "eof_received() at once and drops the data still undelivered; ioloop, as asyncio "
        "(3.11+) and as its plain TCP transports, delivers that data and then eof_received() "
        "once the application reads again; the test's protocol resumes reading only in "
        "eof_received(), so it waits for ever",
}


def default_cache():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "ioloop", f"uvloop-{VERSION}")


def fetch_tests(python, cache, sdist=None):
    """uvloop's tests/ in ``cache``, from its sdist (downloaded once)."""
    tests = os.path.join(cache, "tests")
    if os.path.isfile(os.path.join(tests, "test_tcp.py")):
        return tests
    os.makedirs(cache, exist_ok=True)
    if sdist is None:
        dl = os.path.join(cache, "sdist")
        found = glob.glob(os.path.join(dl, f"uvloop-{VERSION}.tar.gz"))
        if not found:
            print(f"downloading uvloop {VERSION}'s source distribution into {dl}", flush=True)
            # --no-binary uvloop, not :all: (which would build the build
            # dependencies, Cython included, from source too).
            subprocess.run([python, "-m", "pip", "download", "--no-binary", "uvloop",
                            "--no-deps", f"uvloop=={VERSION}", "-d", dl], check=True)
            found = glob.glob(os.path.join(dl, f"uvloop-{VERSION}.tar.gz"))
        if not found:
            raise SystemExit(f"no uvloop-{VERSION}.tar.gz in {dl}")
        sdist = found[0]
    prefix = f"uvloop-{VERSION}/tests/"
    with tarfile.open(sdist) as tf:
        members = [m for m in tf.getmembers() if m.name.startswith(prefix)
                   and (m.isfile() or m.isdir())]
        if not any(m.name.endswith("/test_tcp.py") for m in members):
            raise SystemExit(f"{sdist} has no tests/ directory")
        tmp = tempfile.mkdtemp(dir=cache)
        for m in members:
            m.name = m.name[len(f"uvloop-{VERSION}/"):]
        tf.extractall(tmp, members=members, filter="data") if hasattr(tarfile, "data_filter") \
            else tf.extractall(tmp, members=members)
    os.replace(os.path.join(tmp, "tests"), tests)
    os.rmdir(tmp)
    return tests


def read_exclude_file(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            test, _, reason = line.partition(" ")
            out[test] = reason.strip() or "excluded by " + path
    return out


def check_reference(python):
    r = subprocess.run([python, "-c", "import uvloop; print(uvloop.__version__)"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"uvloop is not importable with {python}: "
                         f"pip install uvloop=={VERSION}")
    if r.stdout.strip() != VERSION:
        print(f"warning: uvloop {r.stdout.strip()} is installed; the tests are {VERSION}'s",
              flush=True)
    return r.stdout.strip()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loop", choices=("ioloop", "reference", "both"), default="both")
    ap.add_argument("--python", default=sys.executable,
                    help="the Python (venv) with ioloop, uvloop and pytest installed")
    ap.add_argument("--cache", default=default_cache(), help="where uvloop's tests are kept")
    ap.add_argument("--sdist", help="use this uvloop sdist instead of downloading it")
    ap.add_argument("--files", help="comma-separated test files (default: all)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per test")
    ap.add_argument("--file-timeout", type=float, default=2400.0, help="seconds per file")
    ap.add_argument("--exclude-file", help="more exclusions: 'test-id reason' per line")
    ap.add_argument("--json", help="write every result (tracebacks included) here")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="files run at once")
    ap.add_argument("--from-json", metavar="PATH",
                    help="run nothing: print the tables of a saved --json run again (with the "
                         "current exclusions and counting rules)")
    ap.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = ap.parse_args(argv)

    excluded = dict(EXCLUDED)
    if args.exclude_file:
        excluded.update(read_exclude_file(args.exclude_file))
    if args.from_json:
        runs, loops, labels, title = sr.from_json(args.from_json, excluded)
        sr.report(runs, loops, labels, title)
        return 0

    python = args.python
    uv_version = check_reference(python)
    tests = fetch_tests(python, args.cache, args.sdist)
    cache = os.path.dirname(tests)
    with open(os.path.join(cache, "pytest.ini"), "w") as f:
        f.write("[pytest]\n")  # rootdir here; no configuration from anywhere else

    names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(tests, "test_*.py")))
    if args.files:
        want = [f.strip() for f in args.files.split(",") if f.strip()]
        want = [w if w.endswith(".py") else w + ".py" for w in want]
        missing = [w for w in want if w not in names]
        if missing:
            raise SystemExit(f"no such file in {tests}: {', '.join(missing)}")
        names = want
    files = [(n, os.path.join("tests", n)) for n in names]

    loops = ["ioloop", "reference"] if args.loop == "both" else [args.loop]
    site = os.path.join(sr.TOOLS, "_suite_site")

    def make_env(lp):
        extra = {"IOLOOP_SUITE": "uvloop", "IOLOOP_SUITE_LOOP": lp}
        if lp == "ioloop":
            extra["IOLOOP_SUITE_SWAP_UVLOOP"] = "1"
            return sr.python_env(extra, pythonpath=[site])
        return sr.python_env(extra)

    labels = {"reference": f"uvloop {uv_version}"}
    if "ioloop" in loops:
        impl, where = sr.engine_of(python, make_env("ioloop"))
        labels["ioloop"] = f"ioloop({impl})"
        print(f"ioloop engine: {impl} (from {where})")
    pyver = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                           capture_output=True, text=True).stdout.strip()
    print(f"Python {pyver} ({python}); uvloop {uv_version}; tests from {tests}")
    if excluded:
        print(f"excluded ({len(excluded)}):")
        for k, v in excluded.items():
            print(f"  {k}: {v}")

    def control_for(lp, name):
        return {"excluded": excluded}

    work = tempfile.mkdtemp(prefix="uvloop-suite-")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    title = (f"uvloop {VERSION} test suite, Python {pyver}, {stamp}: "
             + " vs ".join(labels[lp] for lp in loops))
    runs = sr.main_loop(files=files, loops=loops, make_env=make_env, python=python, cwd=cache,
                        work=work, timeout=args.timeout, file_timeout=args.file_timeout,
                        labels=labels, control_for=control_for, pytest_args=args.pytest_args,
                        title=title, json_out=args.json, jobs=args.jobs)
    unparam = sorted({n for lp in loops for fr in runs[lp] for n in fr.unparametrised})
    if unparam:
        mods = sorted({n.split("::")[0].split("/")[-1] + "::" + n.split("::")[1]
                       if "::" in n else n for n in unparam})
        print(f"not run (not UVTestCase classes: stock asyncio or the uvloop package itself): "
              f"{len(unparam)} tests in {', '.join(mods)}")
    print(f"per-file logs: {work}")
    differs = {tid: r["status"] for fr in runs.get("ioloop", []) for tid, r in fr.tests.items()
               if r["status"] == "failed"
               and any(tid == d or tid.endswith("/" + d) for d in DIFFERS)}
    if differs:
        print(f"failing by design on ioloop ({len(differs)}; not counted in the exit status):")
        for tid in sorted(differs):
            reason = next(v for d, v in DIFFERS.items() if tid == d or tid.endswith("/" + d))
            print(f"  {tid}: {reason}")
    bad = any(r["status"] not in ("passed", "skipped", "xfailed") and tid not in differs
              for fr in runs.get("ioloop", []) for tid, r in fr.tests.items())
    bad = bad or any(fr.stuck_at_exit is not None or fr.timed_out or fr.crashed
                     for fr in runs.get("ioloop", []))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
