"""Handles behave the same on both engines (each test runs on each engine).

``get_context()`` answers the context the callback runs in, always the same
object (asyncio's ``Handle.get_context()`` returns the handle's context); a
handle the loop is done with drops its callback and arguments, and its repr
then says ``done`` (a cancelled one says ``cancelled``, as asyncio's).
"""

import asyncio
import contextvars
import re
import weakref

import pytest

pytestmark = pytest.mark.timeout(30)

_var = contextvars.ContextVar("_var")


class _Arg:
    """A weakly referenceable callback argument."""


def _noop(*args):
    pass


def _schedulers(loop):
    # Each makes a handle due at once: (name, handle).
    return [
        ("call_soon", lambda cb, *a: loop.call_soon(cb, *a)),
        ("call_soon_threadsafe", lambda cb, *a: loop.call_soon_threadsafe(cb, *a)),
        ("call_later", lambda cb, *a: loop.call_later(0, cb, *a)),
        ("call_at", lambda cb, *a: loop.call_at(loop.time(), cb, *a)),
        ("add_timeout", lambda cb, *a: loop.add_timeout(loop.time(), cb, *a)),
    ]


def _run_briefly(loop):
    loop.run_until_complete(asyncio.sleep(0.01))


@pytest.mark.parametrize("index", range(5))
def test_get_context_is_one_object_and_the_one_the_callback_runs_in(loop, index):
    name, schedule = _schedulers(loop)[index]
    seen = []
    # Scheduled from an empty context (the common case).
    h = contextvars.Context().run(schedule, lambda: seen.append(_var.get("unset")))
    ctx = h.get_context()
    assert isinstance(ctx, contextvars.Context)
    assert h.get_context() is ctx, name
    ctx.run(_var.set, "set through get_context()")
    _run_briefly(loop)
    assert seen == ["set through get_context()"], name
    # Still the same object once the callback ran.
    assert h.get_context() is ctx, name


@pytest.mark.parametrize("index", range(5))
def test_get_context_of_a_handle_scheduled_in_a_context(loop, index):
    name, schedule = _schedulers(loop)[index]
    seen = []

    def schedule_inside():
        _var.set("outer")
        return schedule(lambda: seen.append(_var.get("unset")))

    h = contextvars.copy_context().run(schedule_inside)
    ctx = h.get_context()
    assert h.get_context() is ctx, name
    assert ctx[_var] == "outer"
    ctx.run(_var.set, "changed")
    _run_briefly(loop)
    assert seen == ["changed"], name


def test_get_context_of_an_explicit_context_is_that_context(loop):
    ctx = contextvars.copy_context()
    assert loop.call_soon(_noop, context=ctx).get_context() is ctx
    assert loop.call_later(10, _noop, context=ctx).get_context() is ctx


@pytest.mark.parametrize("index", range(5))
def test_a_handle_that_ran_drops_its_callback_and_says_done(loop, index):
    name, schedule = _schedulers(loop)[index]
    arg = _Arg()
    ref = weakref.ref(arg)
    h = schedule(_noop, arg)
    assert "_noop" in repr(h)
    del arg
    _run_briefly(loop)
    # Dropped at once (no collection needed): nothing keeps the argument.
    assert ref() is None, name
    kind = type(h).__name__
    assert re.fullmatch(rf"<{kind} (when=\S+ )?done>", repr(h)), repr(h)
    assert not h.cancelled()


@pytest.mark.parametrize("index", range(5))
def test_a_cancelled_handle_says_cancelled_as_asyncio(loop, index):
    name, schedule = _schedulers(loop)[index]
    arg = _Arg()
    ref = weakref.ref(arg)
    h = schedule(_noop, arg)
    del arg
    h.cancel()
    assert ref() is None, name
    kind = type(h).__name__
    assert re.fullmatch(rf"<{kind} cancelled( when=\S+)?>", repr(h)), repr(h)
    _run_briefly(loop)
    assert re.fullmatch(rf"<{kind} cancelled( when=\S+)?>", repr(h)), repr(h)


def test_handles_pending_when_the_loop_closes_drop_their_callbacks(loop):
    refs = []
    handles = []
    for name, schedule in _schedulers(loop):
        arg = _Arg()
        refs.append(weakref.ref(arg))
        handles.append(schedule(_noop, arg))
    far = _Arg()
    refs.append(weakref.ref(far))
    handles.append(loop.call_later(3600, _noop, far))
    del arg, far
    loop.close()
    assert [r() for r in refs] == [None] * len(refs)
    for h in handles:
        kind = type(h).__name__
        assert re.fullmatch(rf"<{kind} (when=\S+ )?done>", repr(h)), repr(h)

def test_cancelled_repr_matches_asyncio():
    ref_loop = asyncio.new_event_loop()
    try:
        h = ref_loop.call_soon(_noop)
        h.cancel()
        assert repr(h) == "<Handle cancelled>"
    finally:
        ref_loop.close()


# -- the engine's calls into the facade ------------------------------------------


_HOOKS = {"_report_exception", "_check_slow", "_handle_callback_result",
          "_process_signals", "_check_thread", "_ensure_fd_no_transport"}


def _calls_into_self_not_defined(sources):
    text = "\n".join(sources)
    defined = set(re.findall(r"^\s*(?:cdef|cpdef|def)\b[^(\n]*?\b(_\w+)\(", text, re.M))
    called = set(re.findall(r"\bself\.(_\w+)\(", text))
    return called - defined


def test_facade_hooks_are_declared_once_and_the_facade_provides_them():
    import ioloop
    from ioloop import _common

    declared = {name for name in vars(_common.FacadeHooks)
                if name.startswith("_") and not name.startswith("__")
                and callable(vars(_common.FacadeHooks)[name])}
    assert declared == _HOOKS
    for name in declared:
        assert getattr(ioloop.IOLoop, name) is not getattr(_common.FacadeHooks, name)
        assert callable(getattr(ioloop.IOLoop, name)), name
    # Every call a source engine makes on itself that it does not define is
    # one of them (the three with an engine default are defined, so only the
    # other three show up).
    import pathlib
    pkg = pathlib.Path(ioloop.__file__).parent
    twin = (pkg / "_engine_py.py").read_text()
    undefined = _calls_into_self_not_defined([twin])
    assert undefined == {"_report_exception", "_check_slow", "_handle_callback_result"}
    # The compiled engine's files (the stream transport's calls are its own).
    pxi = sorted(p for p in pkg.glob("*.pxi") if p.name != "_stream.pxi")
    if (pkg / "_core.pyx").is_file() and pxi:
        compiled = [(pkg / "_core.pyx").read_text()] + [p.read_text() for p in pxi]
        undefined = _calls_into_self_not_defined(compiled)
        assert undefined == {"_report_exception", "_check_slow", "_handle_callback_result"}


@pytest.mark.parametrize("index", range(5))
def test_a_context_that_is_not_a_context_is_refused_when_scheduling(loop, index):
    name, _ = _schedulers(loop)[index]
    calls = {
        "call_soon": lambda: loop.call_soon(_noop, context=1),
        "call_soon_threadsafe": lambda: loop.call_soon_threadsafe(_noop, context={}),
        "call_later": lambda: loop.call_later(0, _noop, context="ctx"),
        "call_at": lambda: loop.call_at(loop.time(), _noop, context=object()),
        "add_timeout": lambda: loop.call_at(loop.time(), _noop, context=[]),
    }
    with pytest.raises(TypeError, match="context must be a contextvars.Context"):
        calls[name]()
    # Nothing was scheduled.
    assert loop.stats().ready == 0 and loop.stats().timers_pending == 0


def test_timer_handles_order_by_deadline_then_scheduling_order(loop):
    early = loop.call_at(100.0, _noop)
    late = loop.call_at(200.0, _noop)
    tie = loop.call_at(200.0, _noop)
    assert early < late < tie and tie > late > early
    assert early <= early and late >= early and not late <= early
    assert sorted([tie, late, early]) == [early, late, tie]
    with pytest.raises(TypeError):
        early < 1
    for h in (early, late, tie):
        h.cancel()


@pytest.mark.parametrize("value, error", [("0.1", TypeError), (None, TypeError),
                                          (-1, ValueError), (float("nan"), ValueError),
                                          (float("inf"), ValueError)])
def test_slow_callback_duration_must_be_a_number_of_seconds(loop, value, error):
    with pytest.raises(error, match="slow_callback_duration"):
        loop.slow_callback_duration = value
    assert loop.slow_callback_duration == 0.1
    loop.slow_callback_duration = 2
    assert loop.slow_callback_duration == 2.0
