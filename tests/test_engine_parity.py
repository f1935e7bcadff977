"""The two engines side by side, in one process: the same inputs give the
same observable results (handle reprs and contexts, callback and timer
order, counters, error messages, snapshots, debug-mode reports, close()).

Every test here builds one loop per engine with ``loop_class(name)`` and
compares what they report; the module skips when only one engine can run
(no extension built, or ``IOLOOP_NO_EXTENSIONS=1``).
"""

import asyncio
import contextvars
import dataclasses
import functools
import re
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ioloop
from ioloop import _engines
from ioloop._loop import loop_class

ENGINES = ("cython", "python")

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(set(ENGINES) - set(_engines.available()),
                       reason="needs both engines in this process"),
]



def _cb(*args):
    """A module-level callback: its repr is the same on every run."""


def _cb2():
    pass


def _on_each(scenario):
    """{engine: scenario(loop)} with a fresh loop per engine, closed after."""
    results = {}
    for name in ENGINES:
        lp = loop_class(name)()
        try:
            results[name] = scenario(lp)
        finally:
            if not lp.is_closed():
                lp.close()
    return results


def _same(scenario):
    """Runs ``scenario`` on both engines, asserts equal results, returns one."""
    got = _on_each(scenario)
    assert got["cython"] == got["python"]
    return got["python"]


def _run_until_idle(lp, rounds=5):
    for _ in range(rounds):
        lp.call_soon(lp.stop)
        lp.run_forever()


def _norm(text):
    """Volatile parts of a repr or message: addresses and times."""
    text = re.sub(r"0x[0-9a-f]+", "0x...", text)
    return re.sub(r"when=[0-9.e+-]+", "when=...", text)


# -- handles ------------------------------------------------------------------------------


def test_pending_handle_reprs():
    def scenario(lp):
        return [
            repr(lp.call_soon(_cb)),
            repr(lp.call_soon(_cb, 1, "a")),
            repr(lp.call_soon(functools.partial(_cb, 2))),
            _norm(repr(lp.call_later(10, _cb))),
            _norm(repr(lp.call_at(lp.time() + 10, _cb, 3))),
            _norm(repr(lp.add_timeout(lp.time() + 10, _cb))),
        ]
    _same(scenario)


def test_cancelled_handle_reprs():
    def scenario(lp):
        h = lp.call_soon(_cb, 1)
        t = lp.call_later(10, _cb)
        h.cancel()
        t.cancel()
        out = [repr(h), _norm(repr(t)), h.cancelled(), t.cancelled()]
        h.cancel()  # again: no-op
        out.append(repr(h))
        return out
    _same(scenario)


def test_finished_handle_reprs():
    def scenario(lp):
        h = lp.call_soon(_cb, 1)
        t = lp.call_later(0, _cb2)
        _run_until_idle(lp)
        out = [repr(h), _norm(repr(t)), h.cancelled(), t.cancelled()]
        pending = lp.call_later(10, _cb)
        lp.close()  # cancels what is still pending
        return out + [_norm(repr(pending))]
    _same(scenario)


def test_get_context_is_the_same_object_each_call():
    def scenario(lp):
        h = lp.call_soon(_cb)
        t = lp.call_later(10, _cb)
        return (h.get_context() is h.get_context(), t.get_context() is t.get_context())
    # Scheduled from a context with no variable set (a program's first
    # callbacks), and from one with a variable set.
    var = contextvars.ContextVar("parity_ctx")

    def with_var():
        var.set(1)
        return _same(scenario)

    assert contextvars.Context().run(_same, scenario) == (True, True)
    assert contextvars.Context().run(with_var) == (True, True)


def test_get_context_is_the_context_given_or_a_copy():
    var = contextvars.ContextVar("parity_var", default="unset")

    def scenario(lp):
        ctx = contextvars.copy_context()
        token = var.set("at schedule")
        try:
            implicit = lp.call_soon(_cb)
            implicit_timer = lp.call_later(10, _cb)
        finally:
            var.reset(token)
        explicit = lp.call_soon(_cb, context=ctx)
        explicit_timer = lp.call_later(10, _cb, context=ctx)
        return (implicit.get_context().run(var.get),
                implicit_timer.get_context().run(var.get),
                explicit.get_context() is ctx,
                explicit_timer.get_context() is ctx)
    assert _same(scenario) == ("at schedule", "at schedule", True, True)


def test_timer_handle_when_and_equality():
    def scenario(lp):
        a = lp.call_at(100.0, _cb)
        b = lp.call_at(100.0, _cb)
        c = lp.call_at(200.0, _cb)
        return (a.when(), c.when(), a == a, a == b, a != c, hash(a) == hash(a))
    _same(scenario)


def _ordering(lp):
    a = lp.call_at(100.0, _cb)
    c = lp.call_at(200.0, _cb)
    out = []
    for op in ("__lt__", "__le__", "__gt__", "__ge__"):
        out.append((op, _outcome(lambda lp: getattr(a, op)(c), lp)))
    return out


def test_timer_handle_ordering():
    _same(_ordering)


# -- order ---------------------------------------------------------------------------------


def test_timer_ties_run_in_scheduling_order():
    def scenario(lp):
        order = []
        when = lp.time() - 1  # already due: all run in the first iteration
        for i in range(20):
            if i % 3 == 0:
                lp.add_timeout(when, order.append, i)
            else:
                lp.call_at(when, order.append, i)
        _run_until_idle(lp)
        return order
    assert _same(scenario) == list(range(20))


_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("soon"), st.integers(0, 3)),
        st.tuples(st.just("at"), st.integers(0, 3)),  # one of 4 past deadlines
        st.tuples(st.just("timeout"), st.integers(0, 3)),
        st.tuples(st.just("cancel"), st.integers(0, 50)),
        st.tuples(st.just("threadsafe"), st.integers(0, 3)),
        st.tuples(st.just("nested"), st.integers(0, 3)),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(ops=_OPS)
def test_callback_and_timer_order_match(ops):
    """A generated sequence of call_soon / call_at / add_timeout /
    call_soon_threadsafe / cancel / a callback that schedules another runs
    the same callbacks in the same order on both engines."""
    def scenario(lp):
        order = []
        handles = []
        base = lp.time() - 10  # past deadlines: due at once, ordered by when
        for i, (op, arg) in enumerate(ops):
            if op == "soon":
                handles.append(lp.call_soon(order.append, i))
            elif op == "at":
                handles.append(lp.call_at(base + arg, order.append, i))
            elif op == "timeout":
                handles.append(lp.add_timeout(base + arg, order.append, i))
            elif op == "threadsafe":
                handles.append(lp.call_soon_threadsafe(order.append, i))
            elif op == "nested":
                def outer(i=i):
                    order.append(i)
                    lp.call_soon(order.append, ("after", i))
                handles.append(lp.call_soon(outer))
            elif handles:
                handles[arg % len(handles)].cancel()
        _run_until_idle(lp)
        return order, [h.cancelled() for h in handles]
    _same(scenario)


# -- counters and snapshots ---------------------------------------------------------------


def _fields(snapshot):
    if hasattr(snapshot, "_asdict"):
        return snapshot._asdict()
    return dataclasses.asdict(snapshot)


def test_stats_fields_and_counts():
    def scenario(lp):
        a, b = socket.socketpair()
        try:
            for _ in range(3):
                lp.call_soon(_cb)
            t = lp.call_later(10, _cb)
            lp.call_later(0, _cb)
            t.cancel()
            lp.add_reader(a, _cb)
            b.send(b"x")
            _run_until_idle(lp)
            lp.remove_reader(a)
            st_ = lp.stats()
            fields = {f: type(v).__name__ for f, v in _fields(st_).items()}
            # Counts (not times): the same work counts the same on both.
            counts = {f: v for f, v in _fields(st_).items()
                      if f not in ("time", "active_time", "idle_time", "longest_callback",
                                   "longest_callback_repr", "lag_histogram")}
            assert counts["callbacks"] >= 4 and counts["io_handlers"] >= 1, counts
            return fields, counts, len(st_.lag_histogram)
        finally:
            a.close()
            b.close()
    _same(scenario)


def test_registered_fds_and_pending_timers_shapes():
    def scenario(lp):
        a, b = socket.socketpair()
        try:
            lp.add_handler(a.fileno(), _cb, ioloop.IOLoop.READ)
            lp.add_writer(b, _cb)
            lp.call_at(1e9, _cb, 1)
            lp.add_timeout(2e9, _cb2)
            lp.call_at(3e9, _cb).cancel()
            fds = [_norm(repr(info)).replace(str(a.fileno()), "A").replace(str(b.fileno()), "B")
                   for info in sorted(lp.registered_fds(), key=lambda i: i.fd == b.fileno())]
            timers = [_norm(repr(info)) for info in lp.pending_timers()]
            lp.remove_handler(a.fileno())
            lp.remove_writer(b)
            return fds, timers, list(lp.registered_fds())
        finally:
            a.close()
            b.close()
    _same(scenario)


# -- errors ---------------------------------------------------------------------------------


class _NoFileno:
    pass


_BAD_CALLS = {
    "add_callback(None)": lambda lp: lp.add_callback(None),
    "call_soon(1)": lambda lp: lp.call_soon(1),
    "call_soon(cb, context=1)": lambda lp: lp.call_soon(_cb, context=1),
    "call_soon_threadsafe('x')": lambda lp: lp.call_soon_threadsafe("x"),
    "call_later('1', cb)": lambda lp: lp.call_later("1", _cb),
    "call_later(nan, cb)": lambda lp: lp.call_later(float("nan"), _cb),
    "call_later(1, None)": lambda lp: lp.call_later(1, None),
    "call_at(None, cb)": lambda lp: lp.call_at(None, _cb),
    "call_at(inf, cb)": lambda lp: lp.call_at(float("inf"), _cb),
    "call_at(1, 2)": lambda lp: lp.call_at(1, 2),
    "add_timeout('x', cb)": lambda lp: lp.add_timeout("x", _cb),
    "add_timeout(1, None)": lambda lp: lp.add_timeout(1, None),
    "remove_timeout(1)": lambda lp: lp.remove_timeout(1),
    "add_handler(-1)": lambda lp: lp.add_handler(-1, _cb, ioloop.IOLoop.READ),
    "add_handler('x')": lambda lp: lp.add_handler("x", _cb, ioloop.IOLoop.READ),
    "add_handler(nofileno)": lambda lp: lp.add_handler(_NoFileno(), _cb, ioloop.IOLoop.READ),
    "add_handler(events='r')": lambda lp: lp.add_handler(0, _cb, "r"),
    "add_handler(None cb)": lambda lp: lp.add_handler(0, None, ioloop.IOLoop.READ),
    "update_handler(unregistered)": lambda lp: lp.update_handler(1000, ioloop.IOLoop.READ),
    "update_handler('x')": lambda lp: lp.update_handler("x", ioloop.IOLoop.READ),
    "remove_handler('x')": lambda lp: lp.remove_handler("x"),
    "add_reader(-5)": lambda lp: lp.add_reader(-5, _cb),
    "add_reader(1.5)": lambda lp: lp.add_reader(1.5, _cb),
    "add_reader(0, None)": lambda lp: lp.add_reader(0, None),
    "add_writer(None)": lambda lp: lp.add_writer(None, _cb),
    "remove_reader('x')": lambda lp: lp.remove_reader("x"),
    "remove_writer(-1)": lambda lp: lp.remove_writer(-1),
    "set_debug('yes')": lambda lp: lp.set_debug("yes"),
}


def _outcome(call, lp):
    try:
        result = call(lp)
    except Exception as exc:  # the outcome compared is the exception
        return type(exc).__name__, _norm(str(exc))
    return "returned", _norm(repr(result))


@pytest.mark.parametrize("call", sorted(_BAD_CALLS))
def test_bad_arguments_raise_the_same_error(call):
    _same(functools.partial(_outcome, _BAD_CALLS[call]))


def test_slow_callback_duration_rejects_a_string_the_same_way():
    _same(functools.partial(_outcome, lambda lp: setattr(lp, "slow_callback_duration", "x")))


_CLOSED_CALLS = {
    "add_callback": lambda lp: lp.add_callback(_cb),
    "call_soon": lambda lp: lp.call_soon(_cb),
    "call_soon_threadsafe": lambda lp: lp.call_soon_threadsafe(_cb),
    "call_later": lambda lp: lp.call_later(1, _cb),
    "call_at": lambda lp: lp.call_at(1, _cb),
    "add_timeout": lambda lp: lp.add_timeout(1, _cb),
    "add_handler": lambda lp: lp.add_handler(0, _cb, ioloop.IOLoop.READ),
    "add_reader": lambda lp: lp.add_reader(0, _cb),
    "add_writer": lambda lp: lp.add_writer(1, _cb),
    "remove_reader": lambda lp: lp.remove_reader(0),
    "remove_writer": lambda lp: lp.remove_writer(0),
    "remove_handler": lambda lp: lp.remove_handler(0),
    "update_handler": lambda lp: lp.update_handler(0, ioloop.IOLoop.READ),
    "run_forever": lambda lp: lp.run_forever(),
    "stop": lambda lp: lp.stop(),
    "close again": lambda lp: lp.close(),
    "time": lambda lp: type(lp.time()).__name__,
    "is_closed": lambda lp: lp.is_closed(),
    "stats": lambda lp: type(lp.stats()).__name__,
    "registered_fds": lambda lp: lp.registered_fds(),
    "pending_timers": lambda lp: lp.pending_timers(),
}


@pytest.mark.parametrize("call", sorted(_CLOSED_CALLS))
def test_calls_on_a_closed_loop_behave_the_same(call):
    def scenario(lp):
        lp.close()
        return _outcome(_CLOSED_CALLS[call], lp)
    _same(scenario)


def test_close_cancels_pending_handles_the_same_way():
    def scenario(lp):
        a, b = socket.socketpair()
        try:
            h = lp.call_soon(_cb)
            t = lp.call_later(10, _cb)
            lp.add_reader(a, _cb)
            lp.close()
            return h.cancelled(), t.cancelled(), lp.is_closed(), lp.registered_fds()
        finally:
            a.close()
            b.close()
    _same(scenario)


# -- debug mode ---------------------------------------------------------------------------------


def _debug_reports(lp, caplog):
    lp.set_debug(True)
    lp.slow_callback_duration = 0.0
    caplog.clear()

    def fail():
        raise ZeroDivisionError("boom")

    h = lp.call_soon(fail)
    t = lp.call_later(0, fail)
    _run_until_idle(lp)
    lines = []
    for r in caplog.records:
        if r.name.split(".")[0] not in ("ioloop", "asyncio"):
            continue
        text = _norm(r.getMessage())
        # Durations vary; engine file names and line numbers may not.
        text = re.sub(r"took [0-9.]+ seconds", "took ... seconds", text)
        text = re.sub(r'File "[^"]*", line \d+', "File ..., line N", text)
        lines.append((r.name, r.levelname, text.splitlines()[0]))
    return lines, h, t


def test_debug_mode_reports(caplog, expect_errors):
    got = _on_each(functools.partial(_debug_reports, caplog=caplog))
    assert got["cython"][0] == got["python"][0]
    assert any(level == "ERROR" for _, level, _ in got["python"][0])
    assert [h.cancelled() for h in got["cython"][1:]] == [h.cancelled() for h in got["python"][1:]]


def test_debug_mode_finished_handle_reprs(caplog, expect_errors):
    got = _on_each(functools.partial(_debug_reports, caplog=caplog))
    reprs = {name: [_norm(repr(h)).split(" created at ")[0] for h in got[name][1:]]
             for name in ENGINES}
    assert reprs["cython"] == reprs["python"]
