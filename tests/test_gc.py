"""A loop dropped without close() is collected with its fds, even when a
pending callback or handler refers back to it."""

import gc
import socket
import weakref

import pytest

import ioloop

from support import open_fds


def test_unclosed_loop_with_self_references_is_collected():
    gc.collect()
    before = open_fds()
    a, b = socket.socketpair()
    loop = ioloop.IOLoop()
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


def test_closed_loop_releases_callbacks():
    class Marker:
        pass

    loop = ioloop.IOLoop()
    m = Marker()
    ref = weakref.ref(m)
    loop.call_later(3600, lambda m=m: None)
    loop.add_callback(lambda m=m: None)
    del m
    loop.close()
    gc.collect()
    assert ref() is None


def test_handles_outliving_a_collected_loop_stay_usable():
    # Handles are not GC containers; the loop reports what they hold. A
    # handle the user keeps after the loop was collected must stay safe.
    import contextvars

    var = contextvars.ContextVar("v", default=0)
    loop = ioloop.IOLoop()

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
    if ioloop.implementation == "cython":
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
def test_pending_task_of_an_unclosed_loop_is_collected():
    import asyncio

    loop = ioloop.IOLoop()
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
