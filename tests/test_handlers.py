"""File-descriptor handlers: registration, masks and dispatch semantics.

docs/behaviour.md "Event masks", "File-descriptor handlers" and "One
iteration": Tornado-classic ``add_handler``/``update_handler``/``remove_handler``,
combined raw epoll masks, removal during a batch, and the asyncio face's
readers and writers on the same fd table ("Readers, writers and handlers").
"""

import functools
import os
import socket

import pytest

import ioloop
from ioloop import IOLoop

from support import kernel_interest, run_for, run_once, run_until

pytestmark = pytest.mark.timeout(60)

READ, WRITE, ERROR = IOLoop.READ, IOLoop.WRITE, IOLoop.ERROR
EPOLLHUP = 0x010


def record_and_remove(loop, calls):
    """A handler that appends ``(fd, events)`` to ``calls`` and removes
    itself: one call per registration."""
    def handler(fd, events):
        calls.append((fd, events))
        loop.remove_handler(fd)
    return handler


# -- constants --------------------------------------------------------------------


def test_constants_are_raw_epoll_bits():
    assert IOLoop.NONE == 0
    assert IOLoop.READ == 0x001
    assert IOLoop.WRITE == 0x004
    assert IOLoop.ERROR == 0x018
    assert IOLoop.PRI == 0x002
    assert IOLoop.RDHUP == 0x2000
    assert IOLoop.ONESHOT == 1 << 30
    assert IOLoop.EDGE == 1 << 31
    assert IOLoop.EXCLUSIVE == 1 << 28


# -- masks --------------------------------------------------------------------------


def test_read_and_write_ready_is_one_call_with_combined_mask(loop, pairs):
    a, b = pairs()
    b.send(b"x")
    calls = []

    def handler(fd, events):
        calls.append(events)

    loop.add_handler(a, handler, READ | WRITE)
    run_once(loop)
    # exactly one call in that iteration, carrying both bits (Tornado: 5)
    assert calls == [READ | WRITE]


def test_combined_mask_every_iteration(loop, pairs):
    a, b = pairs()
    b.send(b"x")
    calls = []
    loop.add_handler(a, lambda fd, ev: calls.append(ev), READ | WRITE)
    for _ in range(5):
        run_once(loop)
    assert calls == [READ | WRITE] * 5


def test_kernel_mask_is_the_requested_mask(loop, pairs):
    # (the kernel forces EPOLLERR|EPOLLHUP into every registration itself;
    # "ERROR is always added" is observable as delivery, tested below)
    a, _ = pairs()
    c, _ = pairs()
    e, _ = pairs()
    loop.add_handler(a, lambda *x: None, READ)
    loop.add_handler(c, lambda *x: None, IOLoop.NONE)
    loop.add_handler(e, lambda *x: None, WRITE)
    interest = kernel_interest(loop)
    assert interest[a.fileno()] & (READ | WRITE | ERROR) == READ | ERROR
    assert interest[c.fileno()] & (READ | WRITE | ERROR) == ERROR
    assert interest[e.fileno()] & (READ | WRITE | ERROR) == WRITE | ERROR
    loop.update_handler(a, WRITE)
    assert kernel_interest(loop)[a.fileno()] & (READ | WRITE | ERROR) == WRITE | ERROR
    loop.update_handler(a, READ | WRITE)
    assert kernel_interest(loop)[a.fileno()] & (READ | WRITE | ERROR) == READ | WRITE | ERROR


def test_epollerr_delivered_to_read_only_registration(loop):
    # a pipe's write end registered for READ only: when the read end goes
    # away the kernel reports EPOLLERR, which must reach the handler.
    r, w = os.pipe()
    calls = []
    try:
        loop.add_handler(w, record_and_remove(loop, calls), READ)
        run_for(loop, 0.03)
        assert calls == []
        os.close(r)
        r = None
        run_for(loop, 0.05)
    finally:
        os.close(w)
        if r is not None:
            os.close(r)
    assert len(calls) == 1
    _, events = calls[0]
    assert events & 0x008  # EPOLLERR
    assert not events & WRITE


def test_peer_close_reports_read_and_hangup(loop, pairs):
    a, b = pairs()
    calls = []

    def handler(fd, events):
        calls.append(events)
        assert a.recv(10) == b""
        loop.remove_handler(a)

    loop.add_handler(a, handler, READ)
    b.close()
    run_for(loop, 0.05)
    assert len(calls) == 1
    # "READ|ERROR style" on hang-up; bitmask checks, not equality
    assert calls[0] & READ
    assert calls[0] & EPOLLHUP


def test_none_mask_still_gets_hangup(loop, pairs):
    a, b = pairs()
    calls = []
    loop.add_handler(a, record_and_remove(loop, calls), IOLoop.NONE)
    run_for(loop, 0.03)
    assert calls == []  # nothing requested, nothing wrong yet
    b.close()
    run_for(loop, 0.05)
    assert len(calls) == 1
    _, events = calls[0]
    assert events & ERROR
    assert not events & WRITE


def test_pipe_writer_closed_gives_hangup_to_reader(loop):
    r, w = os.pipe()
    calls = []
    try:
        loop.add_handler(r, record_and_remove(loop, calls), READ)
        os.close(w)
        w = None
        run_for(loop, 0.05)
    finally:
        os.close(r)
        if w is not None:
            os.close(w)
    assert len(calls) == 1
    assert calls[0][0] == r
    assert calls[0][1] & EPOLLHUP


def test_read_only_registration_never_gets_write(loop, pairs):
    a, b = pairs()  # a is writable the whole time
    calls = []

    def handler(fd, events):
        calls.append(events)
        a.recv(100)

    loop.add_handler(a, handler, READ)
    run_for(loop, 0.05)
    assert calls == []  # writable, but WRITE was not asked for
    b.send(b"hello")
    run_for(loop, 0.05)
    assert calls == [READ]


def test_write_only_registration_never_gets_read(loop, pairs):
    a, b = pairs()
    b.send(b"unread data")  # a is readable the whole time
    calls = []
    loop.add_handler(a, lambda fd, ev: calls.append(ev), WRITE)
    run_once(loop)
    run_once(loop)
    assert calls == [WRITE, WRITE]


def test_rdhup_is_passed_through(loop, pairs):
    a, b = pairs()
    calls = []
    loop.add_handler(a, record_and_remove(loop, calls), READ | IOLoop.RDHUP)
    assert kernel_interest(loop)[a.fileno()] & IOLoop.RDHUP
    b.shutdown(socket.SHUT_WR)
    run_for(loop, 0.05)
    assert len(calls) == 1
    _, events = calls[0]
    assert events & IOLoop.RDHUP
    assert events & READ


def test_pri_is_passed_through_for_urgent_data(loop):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    cli = socket.create_connection(srv.getsockname())
    conn, _ = srv.accept()
    calls = []
    try:
        loop.add_handler(conn, record_and_remove(loop, calls), IOLoop.PRI)
        cli.send(b"!", socket.MSG_OOB)
        run_until(loop, lambda: calls)
    finally:
        for s in (srv, cli, conn):
            s.close()
    assert len(calls) == 1
    _, events = calls[0]
    assert events & IOLoop.PRI


# -- what the handler receives --------------------------------------------------------


class FileLike:
    def __init__(self, sock):
        self.sock = sock
        self.closed = False

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        self.closed = True


@pytest.mark.parametrize("registered_as", ["socket", "int", "object-with-fileno"])
def test_handler_receives_what_was_registered(loop, pairs, registered_as):
    # the exact socket object; the int when registered by int; any object
    # with fileno() as itself
    a, b = pairs()
    target = {"socket": a, "int": a.fileno(), "object-with-fileno": FileLike(a)}[registered_as]
    b.send(b"x")
    got = []
    loop.add_handler(target, record_and_remove(loop, got), READ)
    run_once(loop)
    assert len(got) == 1
    fd, events = got[0]
    if registered_as == "int":
        assert fd == a.fileno()
        assert type(fd) is int
    else:
        assert fd is target
    assert events & READ


def test_handler_may_be_any_callable(loop, pairs):
    a, b = pairs()
    b.send(b"x")
    got = []

    class Proto:
        def on_event(self, fd, events, tag):
            got.append((tag, fd, events))
            loop.remove_handler(fd)

        def __call__(self, fd, events):
            got.append(("call", fd, events))
            loop.remove_handler(fd)

    p = Proto()
    loop.add_handler(a, functools.partial(p.on_event, tag="partial"), READ)
    run_once(loop)
    loop.add_handler(a, p, READ)
    run_once(loop)
    assert got == [("partial", a, READ), ("call", a, READ)]


# -- add / update / remove ---------------------------------------------------------------


def test_duplicate_add_raises_file_exists_and_keeps_first(loop, pairs):
    a, b = pairs()
    first, second = [], []
    loop.add_handler(a, lambda fd, ev: first.append(ev), READ)
    with pytest.raises(FileExistsError):
        loop.add_handler(a, lambda fd, ev: second.append(ev), READ)
    with pytest.raises(FileExistsError):
        loop.add_handler(a.fileno(), lambda fd, ev: second.append(ev), READ)
    b.send(b"x")
    run_once(loop)
    assert first == [READ]
    assert second == []
    assert kernel_interest(loop)[a.fileno()] & (READ | WRITE) == READ


def test_mixing_int_and_object_for_same_fd_raises(loop, pairs):
    a, _ = pairs()
    c, _ = pairs()
    loop.add_handler(a.fileno(), lambda *x: None, READ)
    with pytest.raises(FileExistsError):
        loop.add_handler(a, lambda *x: None, READ)
    loop.add_handler(c, lambda *x: None, READ)
    with pytest.raises(FileExistsError):
        loop.add_handler(c.fileno(), lambda *x: None, READ)


def test_remove_handler_stops_delivery(loop, pairs):
    a, b = pairs()
    b.send(b"x")
    calls = []
    loop.add_handler(a, lambda fd, ev: calls.append(ev), READ)
    run_once(loop)
    assert calls == [READ]
    loop.remove_handler(a)
    run_for(loop, 0.05)
    assert calls == [READ]
    assert a.fileno() not in kernel_interest(loop)


def test_remove_unknown_and_twice_is_silent(loop, pairs):
    a, _ = pairs()
    loop.remove_handler(a)
    loop.remove_handler(a.fileno())
    loop.remove_handler(12345)
    loop.add_handler(a, lambda *x: None, READ)
    loop.remove_handler(a)
    loop.remove_handler(a)
    assert a.fileno() not in kernel_interest(loop)
    # and the fd can be added again afterwards
    loop.add_handler(a, lambda *x: None, READ)
    assert a.fileno() in kernel_interest(loop)


def test_remove_and_update_by_int_for_object_registration(loop, pairs):
    # Tornado-classic split_fd: the table is keyed by the fd number.
    a, b = pairs()
    b.send(b"x")
    got = []
    loop.add_handler(a, lambda fd, ev: got.append((fd, ev)), IOLoop.NONE)
    loop.update_handler(a.fileno(), READ)
    run_once(loop)
    assert got == [(a, READ)]
    loop.remove_handler(a.fileno())
    assert a.fileno() not in kernel_interest(loop)
    run_once(loop)
    assert got == [(a, READ)]


def test_remove_then_readd_with_new_handler(loop, pairs):
    a, b = pairs()
    b.send(b"x")
    old, new = [], []
    loop.add_handler(a, lambda fd, ev: old.append(ev), READ)
    loop.remove_handler(a)
    loop.add_handler(a, lambda fd, ev: new.append(ev), READ)
    run_once(loop)
    assert old == []
    assert new == [READ]


def test_update_handler_changes_mask_at_once(loop, pairs):
    a, b = pairs()
    calls = []
    loop.add_handler(a, lambda fd, ev: calls.append(ev), READ)
    run_once(loop)
    assert calls == []
    loop.update_handler(a, WRITE)
    assert kernel_interest(loop)[a.fileno()] & (READ | WRITE) == WRITE
    run_once(loop)
    assert calls == [WRITE]
    loop.update_handler(a, IOLoop.NONE)
    run_for(loop, 0.03)
    assert calls == [WRITE]
    b.send(b"x")
    loop.update_handler(a, READ)
    run_once(loop)
    assert calls == [WRITE, READ]


def test_update_handler_from_inside_handler_applies_to_next_poll(loop, pairs):
    a, b = pairs()
    calls = []

    def handler(fd, events):
        calls.append(events)
        loop.update_handler(fd, READ)  # no data ever arrives

    loop.add_handler(a, handler, READ | WRITE)
    run_for(loop, 0.05)
    assert calls == [WRITE]


def test_update_handler_keeps_handler_and_object(loop, pairs):
    a, b = pairs()
    obj = FileLike(a)
    got = []
    loop.add_handler(obj, lambda fd, ev: got.append(fd), READ)
    loop.update_handler(obj, WRITE)
    run_once(loop)
    assert got == [obj]
    assert got[0] is obj


def test_update_unregistered_fd_raises_value_error(loop, pairs):
    a, _ = pairs()
    with pytest.raises(ValueError):
        loop.update_handler(a, READ)
    loop.add_handler(a, lambda *x: None, READ)
    loop.remove_handler(a)
    with pytest.raises(ValueError):
        loop.update_handler(a, READ)
    assert a.fileno() not in kernel_interest(loop)


def test_add_handler_while_running_takes_effect(loop, pairs):
    a, b = pairs()
    b.send(b"x")
    calls = []

    def add():
        loop.add_handler(a, lambda fd, ev: calls.append(ev), READ)

    loop.add_callback(add)
    run_until(loop, lambda: calls)
    assert calls and calls[0] == READ


# -- dispatch reentrancy ----------------------------------------------------------------


def test_handler_removing_other_fd_in_same_batch_prevents_its_call(loop, pairs):
    a, b = pairs()
    c, d = pairs()
    b.send(b"x")
    d.send(b"x")
    called = []

    def handler_for(me, other):
        def handler(fd, events):
            called.append(me)
            me.recv(10)
            loop.remove_handler(other)
            loop.remove_handler(me)
        return handler

    loop.add_handler(a, handler_for(a, c), READ)
    loop.add_handler(c, handler_for(c, a), READ)
    run_once(loop)  # both are ready in the first poll
    run_for(loop, 0.03)
    assert len(called) == 1


@pytest.mark.parametrize("n", [2, 10])
def test_handler_removing_all_others_in_same_batch(loop, pairs, n):
    socks = []
    for _ in range(n):
        a, b = pairs()
        b.send(b"x")
        socks.append(a)
    called = []

    def handler(fd, events):
        called.append(fd)
        for s in socks:
            loop.remove_handler(s)

    for s in socks:
        loop.add_handler(s, handler, READ)
    run_once(loop)
    run_once(loop)
    assert len(called) == 1


def test_handler_replacing_other_fd_in_same_batch(loop, pairs):
    # behaviour.md: an fd removed (or replaced) earlier in the same batch
    # gets no event -- not even a new handler registered for that fd.
    a, b = pairs()
    c, d = pairs()
    b.send(b"x")
    d.send(b"x")
    events = []

    def make(me, other):
        def handler(fd, ev):
            events.append(("old", me))
            me.recv(10)
            loop.remove_handler(me)
            loop.remove_handler(other)
            other.recv(10)  # drained: the batch's READ for it is now stale
            loop.add_handler(other, lambda fd, ev: events.append(("new", fd, ev)), READ)
        return handler

    loop.add_handler(a, make(a, c), READ)
    loop.add_handler(c, make(c, a), READ)
    run_once(loop)
    assert len(events) == 1
    assert events[0][0] == "old"
    run_for(loop, 0.03)
    assert len(events) == 1
    first = events[0][1]
    other, peer = (c, d) if first is a else (a, b)
    peer.send(b"y")  # the new registration works
    run_once(loop)
    assert events[1:] == [("new", other, READ)]


def test_handler_removing_itself_is_not_called_again(loop, pairs):
    a, b = pairs()
    b.send(b"xxxx")  # stays readable: never drained
    calls = []
    loop.add_handler(a, record_and_remove(loop, calls), READ | WRITE)
    run_for(loop, 0.05)
    assert calls == [(a, READ | WRITE)]


def test_handler_replacing_itself_does_not_get_same_event_twice(loop, pairs):
    a, b = pairs()
    b.send(b"x")  # never drained: ready on every poll
    calls = []

    def second(fd, ev):
        calls.append("second")

    def first(fd, ev):
        calls.append("first")
        loop.remove_handler(fd)
        loop.add_handler(fd, second, READ)

    loop.add_handler(a, first, READ)
    run_once(loop)
    assert calls == ["first"]
    run_once(loop)
    assert calls == ["first", "second"]


def test_handler_only_referenced_by_loop_survives_self_removal(loop, pairs):
    # the engine must own references to the handler and the object for the
    # duration of the call, not borrow the table's.
    import gc
    import weakref
    a, b = pairs()
    b.send(b"x")
    out = []

    class Conn:
        def __init__(self, sock):
            self.sock = sock
            self.payload = list(range(100))

        def fileno(self):
            return self.sock.fileno()

        def on_event(self, fd, ev):
            loop.remove_handler(fd)
            gc.collect()
            out.append((fd.fileno(), sum(self.payload), ev))

    conn = Conn(a)
    ref = weakref.ref(conn)
    loop.add_handler(conn, conn.on_event, READ)
    del conn
    run_once(loop)
    gc.collect()
    assert out == [(a.fileno(), 4950, READ)]
    assert ref() is None  # and released afterwards


def test_split_fd_and_close_fd(loop, pairs):
    a, b = pairs()
    assert loop.split_fd(a) == (a.fileno(), a)
    assert loop.split_fd(a)[1] is a
    assert loop.split_fd(7) == (7, 7)
    loop.close_fd(a)
    assert a.fileno() == -1
    fd = os.dup(b.fileno())
    loop.close_fd(fd)
    with pytest.raises(OSError):
        os.fstat(fd)
    loop.close_fd(fd)  # already closed: OSError ignored


# -- level / edge / oneshot -------------------------------------------------------------


def test_level_triggered_is_default(loop, pairs):
    a, b = pairs()
    b.send(b"x")
    calls = []
    loop.add_handler(a, lambda fd, ev: calls.append(ev), READ)
    for _ in range(3):
        run_once(loop)
    assert calls == [READ, READ, READ]


def test_edge_triggered_pass_through(loop, pairs):
    a, b = pairs()
    calls = []
    loop.add_handler(a, lambda fd, ev: calls.append(ev), READ | IOLoop.EDGE)
    assert kernel_interest(loop)[a.fileno()] & IOLoop.EDGE
    b.send(b"x")
    run_for(loop, 0.05)  # not drained: level-triggered would fire every pass
    assert len(calls) == 1
    assert calls[0] & READ
    b.send(b"y")  # a new edge
    run_for(loop, 0.05)
    assert len(calls) == 2


def test_oneshot_fires_once_until_rearmed(loop, pairs):
    a, b = pairs()
    calls = []
    loop.add_handler(a, lambda fd, ev: calls.append(ev), READ | IOLoop.ONESHOT)
    assert kernel_interest(loop)[a.fileno()] & IOLoop.ONESHOT
    b.send(b"x")
    run_for(loop, 0.05)
    assert len(calls) == 1
    assert calls[0] & READ
    b.send(b"y")
    run_for(loop, 0.03)
    assert len(calls) == 1  # disarmed
    loop.update_handler(a, READ | IOLoop.ONESHOT)  # re-arm
    run_for(loop, 0.05)
    assert len(calls) == 2
    # still registered (disarmed, not removed): adding again is an error
    with pytest.raises(FileExistsError):
        loop.add_handler(a, lambda *x: None, READ)
    loop.remove_handler(a)
    assert a.fileno() not in kernel_interest(loop)


def test_exclusive_pass_through_on_add(loop, pairs):
    a, b = pairs()
    calls = []
    loop.add_handler(a, record_and_remove(loop, calls), READ | IOLoop.EXCLUSIVE)
    assert kernel_interest(loop)[a.fileno()] & IOLoop.EXCLUSIVE
    b.send(b"x")
    run_for(loop, 0.05)
    assert len(calls) == 1
    _, events = calls[0]
    assert events & READ


# -- hang-up with data still buffered ---------------------------------------------------------


def test_hup_with_buffered_data_delivers_read_until_eof(loop, pairs):
    a, b = pairs()
    b.setblocking(False)
    payload = bytearray()
    chunk = os.urandom(8192)
    while True:
        try:
            n = b.send(chunk)
        except BlockingIOError:
            break
        payload += chunk[:n]
    b.close()
    received = bytearray()
    masks = []
    eof = []

    def handler(fd, events):
        masks.append(events)
        data = fd.recv(4096)
        if data:
            received.extend(data)
        else:
            eof.append(True)
            loop.remove_handler(fd)
            loop.stop()

    loop.add_handler(a, handler, READ)
    loop.call_later(10, loop.stop)
    loop.start()
    assert eof == [True]
    assert bytes(received) == bytes(payload)
    assert len(payload) > 4096  # several calls happened after the hang-up
    assert all(m & READ for m in masks)
    assert masks[0] & EPOLLHUP


# -- asyncio face: add_reader / add_writer ------------------------------------------------


def test_add_reader_passes_args_and_remove_reader_returns_bool(loop, pairs):
    a, b = pairs()
    got = []
    loop.add_reader(a.fileno(), got.append, "r")
    b.send(b"x")
    run_once(loop)
    assert got == ["r"]
    assert loop.remove_reader(a.fileno()) is True
    assert loop.remove_reader(a.fileno()) is False
    run_once(loop)
    assert got == ["r"]
    c, _ = pairs()
    assert loop.remove_reader(c.fileno()) is False
    assert loop.remove_writer(c.fileno()) is False


def test_reader_and_writer_on_same_fd(loop, pairs):
    a, b = pairs()
    got = []
    loop.add_reader(a, got.append, "r")
    loop.add_writer(a, got.append, "w")
    run_once(loop)
    assert got == ["w"]
    b.send(b"x")
    run_once(loop)
    assert sorted(got[1:]) == ["r", "w"]
    assert loop.remove_writer(a) is True
    assert kernel_interest(loop)[a.fileno()] & (READ | WRITE) == READ
    del got[:]
    run_once(loop)
    assert got == ["r"]
    assert loop.remove_writer(a) is False
    assert loop.remove_reader(a) is True
    assert a.fileno() not in kernel_interest(loop)


def test_reader_removing_writer_of_same_fd_cancels_it_in_same_event(loop, pairs):
    a, b = pairs()
    b.send(b"x")  # readable and writable: one event with both bits
    got = []

    def reader():
        got.append("r")
        loop.remove_writer(a)

    def writer():
        got.append("w")
        loop.remove_reader(a)

    loop.add_reader(a, reader)
    loop.add_writer(a, writer)
    run_once(loop)
    assert got in (["r"], ["w"])  # whichever ran first cancelled the other
    run_for(loop, 0.03)
    # the survivor keeps running (level-triggered, still ready)
    assert set(got[1:]) == {got[0]}
    assert len(got) >= 2


def test_reader_removing_itself_leaves_writer(loop, pairs):
    a, b = pairs()
    b.send(b"x")
    got = []

    def reader():
        got.append("r")
        loop.remove_reader(a)

    loop.add_reader(a, reader)
    loop.add_writer(a, got.append, "w")
    run_once(loop)
    assert sorted(got) == ["r", "w"]
    run_once(loop)
    assert sorted(got) == ["r", "w", "w"]


def test_add_reader_again_replaces_callback(loop, pairs):
    # asyncio semantics: a second add_reader replaces the first.
    a, b = pairs()
    got = []
    loop.add_reader(a, got.append, "first")
    loop.add_reader(a, got.append, "second")
    b.send(b"x")
    run_once(loop)
    assert got == ["second"]


def test_add_reader_on_fd_with_classic_handler_raises(loop, pairs):
    a, b = pairs()
    calls = []
    loop.add_handler(a, lambda fd, ev: calls.append(ev), READ)
    with pytest.raises(FileExistsError):
        loop.add_reader(a, lambda: None)
    with pytest.raises(FileExistsError):
        loop.add_writer(a.fileno(), lambda: None)
    b.send(b"x")
    run_once(loop)
    assert calls == [READ]  # the classic handler is untouched


def test_add_handler_on_fd_with_reader_raises(loop, pairs):
    a, b = pairs()
    got = []
    loop.add_reader(a, got.append, 1)
    with pytest.raises(FileExistsError):
        loop.add_handler(a, lambda *x: None, READ)
    b.send(b"x")
    run_once(loop)
    assert got == [1]


def test_many_add_reader_then_one_remove_releases_fd(loop, pairs):
    a, b = pairs()
    got = []
    for i in range(3):
        loop.add_reader(a, got.append, i)
    assert loop.remove_reader(a) is True
    assert a.fileno() not in kernel_interest(loop)
    assert loop.remove_reader(a) is False
    b.send(b"x")
    run_for(loop, 0.03)
    assert got == []
    loop.add_handler(a, lambda *x: None, READ)  # the number is free again


def test_handler_and_reader_run_in_context_of_registration(loop, pairs):
    import contextvars
    var = contextvars.ContextVar("var", default="unset")
    a, b = pairs()
    c, d = pairs()
    seen = []
    token = var.set("at-add")
    try:
        def handler(fd, ev):
            seen.append(("handler", var.get()))
            loop.remove_handler(fd)

        loop.add_handler(a, handler, READ)
        loop.add_reader(c, lambda: (seen.append(("reader", var.get())), loop.remove_reader(c)))
    finally:
        var.reset(token)
    b.send(b"x")
    d.send(b"x")
    run_once(loop)
    assert sorted(seen) == [("handler", "at-add"), ("reader", "at-add")]
    assert var.get() == "unset"


def test_handler_returning_coroutine_runs_it(loop, pairs):
    import asyncio
    a, b = pairs()
    done = []

    async def later(fd):
        await asyncio.sleep(0)
        done.append(fd)

    def handler(fd, ev):
        loop.remove_handler(fd)
        return later(fd)

    loop.add_handler(a, handler, WRITE)
    run_for(loop, 0.05)
    assert done == [a]


def test_stop_from_handler_finishes_batch_and_no_double_delivery(loop, readable):
    a, c = readable(2)
    calls = []

    def handler(fd, ev):
        calls.append(fd)
        fd.recv(10)
        loop.stop()

    loop.add_handler(a, handler, READ)
    loop.add_handler(c, handler, READ)
    loop.call_later(5, loop.stop)  # safety net
    loop.start()
    # both events of the batch were dispatched in that iteration
    assert sorted(map(id, calls)) == sorted([id(a), id(c)])
    run_for(loop, 0.05)
    assert len(calls) == 2  # neither event is replayed by the next start()


def test_reader_callback_exception_keeps_reader(loop, pairs):
    a, b = pairs()
    calls = []
    contexts = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))

    def reader():
        calls.append(1)
        raise ZeroDivisionError

    loop.add_reader(a, reader)
    b.send(b"x")
    run_once(loop)
    run_once(loop)
    assert calls == [1, 1]
    assert len(contexts) == 2
    assert isinstance(contexts[0]["exception"], ZeroDivisionError)


@pytest.mark.default_engine
def test_implementation_is_reported():
    assert ioloop.implementation in ("cython", "python")
    if os.environ.get("IOLOOP_NO_EXTENSIONS") == "1":
        assert ioloop.implementation == "python"
