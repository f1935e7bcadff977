"""pytest plugin loaded by tools/uvloop_suite.py and tools/cpython_suite.py
in each per-file child process (``-p _suite_plugin``). Not a user entry point.

It is configured through the environment:

``IOLOOP_SUITE``          ``uvloop`` or ``cpython``: which suite this process runs.
``IOLOOP_SUITE_LOOP``     ``ioloop`` (the loop under test) or ``reference``
                          (uvloop, or stock asyncio).
``IOLOOP_SUITE_RESULTS``  a file to append one JSON object per line to: a
                          ``start`` record when a test begins, a ``test``
                          record when it ends, ``session`` records at the
                          beginning and end. Each line is flushed at once, so
                          a process killed in a hang leaves what it did.
``IOLOOP_SUITE_CONTROL``  a JSON file from the runner: ``{"excluded": {key:
                          reason}, "deselect": [nodeid, ...]}``, a key naming a
                          file, ``file::Class`` or ``file::Class::test``.

What it changes in the process: the loop factories, per suite
(``_install_uvloop``, ``_install_cpython``), and ignored SIGINT/SIGQUIT/SIGHUP
back to their defaults (``_default_signal_dispositions``); everything else
only observes.
"""

import asyncio
import inspect
import json
import os
import sys
import threading
import time

import pytest

SUITE = os.environ.get("IOLOOP_SUITE", "")
LOOP = os.environ.get("IOLOOP_SUITE_LOOP", "ioloop")
_RESULTS = os.environ.get("IOLOOP_SUITE_RESULTS")
_CONTROL = os.environ.get("IOLOOP_SUITE_CONTROL")

_loops_created = [0]
_out = None
_lock = threading.Lock()


def _emit(rec):
    global _out
    if not _RESULTS:
        return
    with _lock:
        if _out is None:
            _out = open(_RESULTS, "a", buffering=1)
        _out.write(json.dumps(rec) + "\n")
        _out.flush()


def _count(factory):
    def counting_factory(*args, **kwargs):
        loop = factory(*args, **kwargs)
        _loops_created[0] += 1
        return loop
    counting_factory.__name__ = getattr(factory, "__name__", "factory")
    return counting_factory


def _engine():
    if LOOP != "ioloop":
        return None
    import ioloop
    return ioloop.implementation


# -- uvloop's suite ---------------------------------------------------------------------------

def _install_uvloop():
    """uvloop's tests get their loops from ``uvloop._testbase.UVTestCase``
    (``new_loop``/``new_policy``), and a few from ``uvloop.new_event_loop()``
    or ``uvloop.run()`` directly (a server thread, a forked server, child
    processes started by the tests). For the ioloop run all of those become
    ioloop's: the test base's hooks, and the ``uvloop`` module's
    ``new_event_loop``, ``EventLoopPolicy``, ``run`` and ``install`` (child
    Python processes get the same through the ``sitecustomize`` the runner
    puts on their path). ``uvloop.Loop`` stays uvloop's class. For the
    reference run nothing is replaced; the loop factory is only counted."""
    import uvloop
    from uvloop import _testbase as tb

    if LOOP == "ioloop":
        import ioloop

        from _suite_uvloop_swap import swap_uvloop_module
        swap_uvloop_module(uvloop, ioloop)
        counting_new = _count(ioloop.new_event_loop)

        class CountingPolicy(ioloop.EventLoopPolicy):
            def new_event_loop(self):
                return counting_new()

        uvloop.new_event_loop = counting_new
        uvloop.EventLoopPolicy = CountingPolicy
        tb.UVTestCase.new_loop = lambda self: counting_new()
        tb.UVTestCase.new_policy = lambda self: CountingPolicy()
    else:
        counting_new = _count(uvloop.new_event_loop)
        tb.UVTestCase.new_loop = lambda self: counting_new()


def _uvloop_keep(item):
    from uvloop import _testbase as tb
    cls = getattr(item, "cls", None)
    return cls is not None and issubclass(cls, tb.UVTestCase)


# -- CPython's suite --------------------------------------------------------------------------

# A loop hook (create_event_loop / new_loop) is the loop under test when its
# source builds a real asyncio loop; hooks that build asyncio's mock-driven
# BaseEventLoop (test_runners) or TestLoop are asyncio's own machinery.
_LOOP_HOOKS = ("create_event_loop", "new_loop")
_BUILDS_LOOP = ("SelectorEventLoop(", "new_event_loop(")
# On Linux the per-selector classes (EPoll/Poll/Select) differ only in the
# selector given to asyncio.SelectorEventLoop: with another loop they are the
# same test three times. Only the epoll (or default-selector) one is kept.
_OTHER_SELECTORS = ("PollSelector()", "SelectSelector()")


def _hook_source(cls, name):
    fn = getattr(cls, name, None)
    fn = getattr(fn, "__func__", fn)
    if fn is None or not inspect.isfunction(fn):
        return ""
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        return ""


_patched_classes = set()
_policy_factory = [None]


def _install_cpython():
    if LOOP == "ioloop":
        import ioloop
        counting_new = _count(ioloop.new_event_loop)

        class CountingPolicy(ioloop.EventLoopPolicy):
            def new_event_loop(self):
                return counting_new()
    else:
        counting_new = None

        class CountingPolicy(asyncio.DefaultEventLoopPolicy):
            def new_event_loop(self):
                loop = super().new_event_loop()
                _loops_created[0] += 1
                return loop

    _policy_factory[0] = (CountingPolicy, counting_new)
    asyncio.set_event_loop_policy(CountingPolicy())


def _cpython_patch_class(cls):
    """Point the class's loop hooks at the loop under test (counted)."""
    if cls in _patched_classes:
        return
    _patched_classes.add(cls)
    _, counting_new = _policy_factory[0]
    for name in _LOOP_HOOKS:
        src = _hook_source(cls, name)
        if not any(s in src for s in _BUILDS_LOOP):
            continue
        if LOOP == "ioloop":
            setattr(cls, name, lambda self, _f=counting_new: _f())
        else:
            orig = getattr(cls, name)
            setattr(cls, name, lambda self, _o=orig: _count(_o)(self))


def _cpython_keep(item):
    cls = getattr(item, "cls", None)
    if cls is None:
        return True
    for name in _LOOP_HOOKS:
        src = _hook_source(cls, name)
        if any(s in src for s in _OTHER_SELECTORS):
            return False
    return True


# -- hooks ------------------------------------------------------------------------------------

def _load_control():
    if not _CONTROL:
        return {}, set()
    with open(_CONTROL) as f:
        ctl = json.load(f)
    return ctl.get("excluded", {}), set(ctl.get("deselect", []))


_EXCLUDED, _DESELECT = _load_control()


def _excluded_reason(nodeid):
    from _suite_runner import excluded_reason
    return excluded_reason(nodeid, _EXCLUDED)


def _default_signal_dispositions():
    """A runner started in the background (``&``, ``nohup``, ``setsid``)
    passes on SIGINT/SIGQUIT/SIGHUP ignored, and child processes started with
    ``subprocess`` keep an ignored disposition. Tests that send those signals
    to a child would then depend on how the runner was started: every test
    process starts from the defaults instead."""
    import signal
    for name in ("SIGHUP", "SIGQUIT"):
        sig = getattr(signal, name)
        if signal.getsignal(sig) == signal.SIG_IGN:
            signal.signal(sig, signal.SIG_DFL)
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_configure(config):
    _default_signal_dispositions()
    if SUITE == "uvloop":
        _install_uvloop()
    elif SUITE == "cpython":
        _install_cpython()
    _emit({"kind": "session", "event": "start", "pid": os.getpid(), "loop": LOOP,
           "engine": _engine(), "python": sys.version.split()[0]})


def pytest_collection_modifyitems(session, config, items):
    keep, dropped, other_selector = [], [], []
    for item in items:
        if item.nodeid in _DESELECT:
            dropped.append(item)
            continue
        if SUITE == "uvloop" and not _uvloop_keep(item):
            dropped.append(item)
            _emit({"kind": "unparametrised", "nodeid": item.nodeid})
            continue
        if SUITE == "cpython" and not _cpython_keep(item):
            dropped.append(item)
            other_selector.append(item.nodeid)
            continue
        reason = _excluded_reason(item.nodeid)
        if reason is not None:
            dropped.append(item)
            _emit({"kind": "excluded", "nodeid": item.nodeid, "reason": reason})
            continue
        if SUITE == "cpython" and getattr(item, "cls", None) is not None:
            _cpython_patch_class(item.cls)
        keep.append(item)
    if other_selector:
        _emit({"kind": "other_selector", "count": len(other_selector)})
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    _emit({"kind": "collected", "count": len(keep)})


def pytest_collectreport(report):
    if report.failed:
        _emit({"kind": "collect_error", "nodeid": report.nodeid,
               "error": _first_line_of_longrepr(report)})


_state = {}


def _first_line_of_longrepr(report):
    text = getattr(report, "longreprtext", "") or ""
    lines = [ln for ln in text.splitlines() if ln.startswith("E ")]
    if lines:
        return lines[0][1:].strip()[:300]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def pytest_runtest_logreport(report):
    # Every report, including those of unittest subTest()s, which have no
    # makereport call of their own.
    st = _state.get(report.nodeid)
    if st is None:
        return
    if report.failed:
        desc = _first_line_of_longrepr(report)
        timeout = "Timeout (>" in desc and "pytest-timeout" in desc
        st["phases"].append({"when": report.when, "outcome": "failed", "timeout": timeout,
                             "error": desc, "longrepr": report.longreprtext[-6000:]})
    elif report.skipped:
        if hasattr(report, "wasxfail"):
            st["phases"].append({"when": report.when, "outcome": "xfailed"})
        else:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            st["phases"].append({"when": report.when, "outcome": "skipped",
                                 "reason": str(reason)[:300]})
    elif report.when == "call" and hasattr(report, "wasxfail"):
        st["phases"].append({"when": "call", "outcome": "xpassed"})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if SUITE == "cpython":
        # Tests (and tearDown methods) reset the policy to None; every test
        # starts on the policy of the loop under test.
        asyncio.set_event_loop_policy(_policy_factory[0][0]())
    before = _loops_created[0]
    _state[item.nodeid] = {"phases": []}
    _emit({"kind": "start", "nodeid": item.nodeid, "t": time.time()})
    t0 = time.monotonic()
    yield
    st = _state.pop(item.nodeid)
    phases = st["phases"]
    status, error, longrepr = "passed", "", ""
    failed = [p for p in phases if p["outcome"] == "failed"]
    if failed:
        p = failed[0]
        if p["timeout"]:
            status = "hung"
        elif p["when"] == "call":
            status = "failed"
        else:
            status = "error"
        error = (f"[{p['when']}] " if p["when"] != "call" else "") + p["error"]
        longrepr = "\n\n".join(f["longrepr"] for f in failed)
    elif any(p["outcome"] == "xpassed" for p in phases):
        status, error = "failed", "unexpected success"
    elif any(p["outcome"] == "skipped" for p in phases):
        status = "skipped"
        error = next(p["reason"] for p in phases if p["outcome"] == "skipped")
    elif any(p["outcome"] == "xfailed" for p in phases):
        status = "xfailed"
    _emit({"kind": "test", "nodeid": item.nodeid, "status": status, "error": error,
           "loops": _loops_created[0] - before, "seconds": round(time.monotonic() - t0, 3),
           "longrepr": longrepr})


def pytest_sessionfinish(session, exitstatus):
    threads = [f"{t.name}{' (daemon)' if t.daemon else ''}" for t in threading.enumerate()
               if t is not threading.main_thread()]
    _emit({"kind": "session", "event": "finish", "exitstatus": int(exitstatus),
           "threads": threads})
