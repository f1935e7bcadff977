"""Callbacks scheduled from an empty context must not see each other's
context variables (the Cython engine shares one empty context between them
and must replace it as soon as a callback leaves a value in it)."""

import contextvars
import socket

import ioloop

var = contextvars.ContextVar("var", default="unset")


def _run(loop):
    loop.add_callback(loop.stop)
    loop.start()


def test_add_callback_set_does_not_leak(loop):
    seen = []

    def setter(tag):
        seen.append((tag, var.get()))
        var.set(tag)

    for tag in "abc":
        loop.add_callback(setter, tag)
    _run(loop)
    assert seen == [("a", "unset"), ("b", "unset"), ("c", "unset")]
    assert var.get() == "unset"


def test_timers_and_call_soon_do_not_leak(loop):
    seen = []

    def setter(tag):
        seen.append((tag, var.get()))
        var.set(tag)

    loop.call_later(0, setter, "t1")
    loop.call_soon(setter, "s1")
    loop.call_at(loop.time(), setter, "t2")
    loop.add_timeout(loop.time(), setter, "t3")
    loop.call_later(0.01, loop.stop)
    loop.start()
    assert sorted(seen) == sorted([(t, "unset") for t in ("t1", "s1", "t2", "t3")])


def test_failing_callback_does_not_leak(loop):
    seen = []
    loop.set_exception_handler(lambda lp, ctx: None)

    def bad():
        var.set("dirty")
        raise ValueError("boom")

    loop.add_callback(bad)
    loop.add_callback(lambda: seen.append(var.get()))
    _run(loop)
    assert seen == ["unset"]


def test_handler_set_does_not_leak(loop):
    a, b = socket.socketpair()
    seen = []
    try:
        def handler(fd, events):
            seen.append(var.get())
            var.set("from-handler")
            loop.remove_handler(fd)
            loop.add_callback(lambda: seen.append(var.get()))
            loop.call_later(0.01, loop.stop)

        loop.add_handler(a, handler, ioloop.IOLoop.READ)
        b.send(b"x")
        loop.start()
    finally:
        a.close()
        b.close()
    # The callback was added inside the handler's context, after the set:
    # it sees the handler's value (a copy), and nothing else does.
    assert seen == ["unset", "from-handler"]
    loop.add_callback(lambda: seen.append(var.get()))
    _run(loop)
    assert seen[-1] == "unset"


def test_value_set_before_scheduling_is_seen(loop):
    seen = []
    token = var.set("outer")
    try:
        loop.add_callback(lambda: seen.append(var.get()))
        h = loop.call_later(0, lambda: seen.append(var.get()))
    finally:
        var.reset(token)
    loop.call_later(0.01, loop.stop)
    loop.start()
    assert seen == ["outer", "outer"]
    assert h.get_context()[var] == "outer"


def test_handle_get_context_is_a_context(loop):
    h = loop.call_soon(lambda: None)
    t = loop.call_later(10, lambda: None)
    assert isinstance(h.get_context(), contextvars.Context)
    assert isinstance(t.get_context(), contextvars.Context)
    t.cancel()
