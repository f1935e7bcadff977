"""A loop dropped without close() is collected with its fds, even when a
pending callback or handler refers back to it."""

import gc
import socket
import weakref

import pytest

import ioloop

from support import open_fds


def test_unclosed_loop_with_self_references_is_collected(make_loop):
    gc.collect()
    before = open_fds()
    a, b = socket.socketpair()
    loop = make_loop()
    loop.call_later(3600, loop.stop)
    loop.add_callback(loop.stop)
    loop.add_handler(a, lambda fd, ev: loop.stop(), ioloop.IOLoop.READ)
    loop.add_reader(b, loop.stop)
    ref = weakref.ref(loop)
    del loop
    gc.collect()
    assert ref() is None
    a.close()
    b.close()
    gc.collect()
    assert open_fds() == before


def test_closed_loop_releases_callbacks(make_loop):
    class Marker:
        pass

    loop = make_loop()
    m = Marker()
    ref = weakref.ref(m)
    loop.call_later(3600, lambda m=m: None)
    loop.add_callback(lambda m=m: None)
    del m
    loop.close()
    gc.collect()
    assert ref() is None


def test_handles_outliving_a_collected_loop_stay_usable(make_loop, engine):
    # Handles are not GC containers; the loop reports what they hold. A
    # handle the user keeps after the loop was collected must stay safe.
    import contextvars

    var = contextvars.ContextVar("v", default=0)
    loop = make_loop()

    def cb():
        loop.stop()

    token = var.set(1)
    try:
        soon = loop.call_soon(cb)
        later = loop.call_later(3600, cb)
    finally:
        var.reset(token)
    a, b = socket.socketpair()
    loop.add_reader(a, cb)
    ref = weakref.ref(loop)
    del loop, cb
    gc.collect()
    if engine == "cython":
        # Its handles hold no reference to it (the twin's do, as asyncio's).
        assert ref() is None
    a.close()
    b.close()
    for h in (soon, later):
        repr(h)
        assert not h.cancelled()
        assert h.get_context().run(var.get) == 1
        h.cancel()
        assert h.cancelled()
        repr(h)
    assert later.when() > 0


@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
def test_pending_task_of_an_unclosed_loop_is_collected(make_loop):
    import asyncio

    loop = make_loop()
    loop.set_exception_handler(lambda lp, ctx: None)  # "Task was destroyed..."

    async def forever():
        await asyncio.sleep(3600)

    task = loop.create_task(forever())
    ref = weakref.ref(loop)
    tref = weakref.ref(task)
    del loop, task
    gc.collect()
    assert ref() is None
    assert tref() is None


class _SelfScheduling:
    """Keeps the handle of a callback bound to itself: a reference cycle
    (object -> handle -> bound method -> object) through the handle."""

    def __init__(self, schedule):
        self.h = schedule(self.cb)

    def cb(self):
        pass


@pytest.mark.parametrize("how", ["call_soon", "call_later", "add_timeout"])
def test_a_handle_that_ran_does_not_keep_a_cycle_alive(make_loop, how):
    loop = make_loop()
    try:
        schedule = {
            "call_soon": loop.call_soon,
            "call_later": lambda cb: loop.call_later(0, cb),
            "add_timeout": lambda cb: loop.add_timeout(loop.time(), cb),
        }[how]
        obj = _SelfScheduling(schedule)
        ref = weakref.ref(obj)
        del obj
        loop.call_later(0.01, loop.stop)
        loop.start()
        gc.collect()
        assert ref() is None
    finally:
        loop.close()


def test_a_cancelled_timer_does_not_keep_a_cycle_alive(loop):
    obj = _SelfScheduling(lambda cb: loop.call_later(3600, cb))
    obj.h.cancel()
    ref = weakref.ref(obj)
    del obj
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize("how", ["call_soon", "call_later"])
def test_handles_pending_at_close_do_not_keep_a_cycle_alive(make_loop, how):
    loop = make_loop()
    delay = {"call_soon": None, "call_later": 3600}[how]
    obj = _SelfScheduling(loop.call_soon if delay is None
                          else (lambda cb: loop.call_later(delay, cb)))
    ref = weakref.ref(obj)
    del obj
    loop.close()
    gc.collect()
    assert ref() is None


def test_reader_removed_does_not_keep_a_cycle_alive(loop):
    a, b = socket.socketpair()
    try:
        class Reader:
            def __init__(self):
                loop.add_reader(a, self.cb)
                self.h = None

            def cb(self):
                pass

        obj = Reader()
        ref = weakref.ref(obj)
        del obj
        loop.remove_reader(a)
        gc.collect()
        assert ref() is None
    finally:
        a.close()
        b.close()


def test_task_sleeping_when_its_loop_closed_is_collected(make_loop):
    # task -> coroutine frame -> asyncio.sleep's TimerHandle -> future ->
    # task: the cycle goes through a handle the loop dropped at close().
    import asyncio

    loop = make_loop()
    loop.set_exception_handler(lambda lp, ctx: None)  # "Task was destroyed..."
    started = []

    async def sleeper():
        started.append(1)
        await asyncio.sleep(3600)

    task = loop.create_task(sleeper())
    loop.call_later(0.01, loop.stop)
    loop.run_forever()
    assert started
    tref = weakref.ref(task)
    del task
    loop.close()
    gc.collect()
    assert tref() is None


def test_handle_that_ran_keeps_its_context_and_repr(loop):
    import contextvars

    var = contextvars.ContextVar("v", default=0)
    token = var.set(7)
    try:
        h = loop.call_soon(loop.stop)
    finally:
        var.reset(token)
    loop.run_forever()
    assert not h.cancelled()
    assert h.get_context().run(var.get) == 7
    repr(h)
