"""File-descriptor lifecycle: reuse, stale registrations, leaks, CLOEXEC, scale.

docs/behaviour.md "File-descriptor handlers" (stale registrations, never
spin, synchronous removal, more ready fds than the event buffer) and "The
loop's own resources" (no fd leaks, O_CLOEXEC). An fd number reused after a
close without remove_handler, and a dup'd fd closed without removal, are
known failure modes of other loops (cpython gh-88968, uvloop#61).
"""

import errno
import fcntl
import gc
import logging
import os
import resource
import socket
import time

import pytest

from ioloop import IOLoop

from support import (cpu_for, ioloop_warnings, kernel_interest, open_fds, run_for, run_once,
                     run_until)

pytestmark = pytest.mark.timeout(60)

READ, WRITE, ERROR = IOLoop.READ, IOLoop.WRITE, IOLoop.ERROR


def reuse_number(n, pairs):
    """Make fd number n refer to a fresh socket; return (new_sock, its_peer)."""
    c, d = pairs()
    if c.fileno() == n:  # the kernel handed out the lowest free number: n
        return c, d
    os.dup2(c.fileno(), n)
    c.close()
    return socket.socket(fileno=n), d


# -- fd number reused after close without remove_handler ----------------------------------


@pytest.mark.parametrize("by", ["int", "object"])
@pytest.mark.parametrize("ran_before", [False, True])
def test_fd_reuse_after_close_without_remove(loop, pairs, by, ran_before):
    a, b = pairs()
    n = a.fileno()
    old_calls, new_calls = [], []
    loop.add_handler(n if by == "int" else a, lambda fd, ev: old_calls.append(ev), READ)
    if ran_before:
        b.send(b"old")
        run_once(loop)
        assert old_calls == [READ]
        del old_calls[:]
    a.close()  # no remove_handler
    new, peer = reuse_number(n, pairs)
    try:
        assert new.fileno() == n
        target = n if by == "int" else new
        loop.add_handler(target, lambda fd, ev: new_calls.append((fd, ev)), READ)
        run_for(loop, 0.03)
        assert new_calls == []  # the new socket is not readable yet
        peer.send(b"new")
        run_until(loop, lambda: new_calls)
        assert new_calls[0] == (target, READ)
        assert new_calls[0][0] is target or by == "int"
        assert old_calls == []
        # the new registration is a normal one: remove works, re-add works
        loop.remove_handler(target)
        assert n not in kernel_interest(loop)
        loop.add_handler(target, lambda *x: None, READ)
        loop.remove_handler(target)
    finally:
        new.close()


def test_add_reader_on_closed_and_reused_fd_fires(loop, pairs):
    # cpython gh-88968 / twisted#12681: asyncio and uvloop never fire here.
    a, b = pairs()
    n = a.fileno()
    old, got = [], []
    loop.add_reader(n, old.append, "old")
    a.close()  # no remove_reader
    new, peer = reuse_number(n, pairs)
    try:
        loop.add_reader(n, got.append, "new")
        peer.send(b"x")
        run_until(loop, lambda: got)
        assert got[0] == "new"
        assert old == []
        assert loop.remove_reader(n) is True
    finally:
        new.close()


def test_add_writer_on_closed_and_reused_fd_fires(loop, pairs):
    a, b = pairs()
    n = a.fileno()
    got = []
    loop.add_reader(n, got.append, "old-reader")
    a.close()
    new, peer = reuse_number(n, pairs)
    try:
        loop.add_writer(new, got.append, "new-writer")
        run_until(loop, lambda: got)
        assert set(got) == {"new-writer"}
    finally:
        loop.remove_writer(new)
        new.close()


def test_old_file_kept_alive_by_dup_never_reaches_new_handler(loop, pairs, caplog):
    # fd n registered; n closed without removal while a dup keeps the old
    # file open (the kernel keeps the (n, old file) registration); then n is
    # reused and registered again.  Events of the old file must not be
    # delivered to the new handler, and the loop must not spin on them.
    caplog.set_level(logging.WARNING, logger="ioloop")
    a, b = pairs()
    n = a.fileno()
    keep = a.dup()
    old_calls, new_calls = [], []
    loop.add_handler(n, lambda fd, ev: old_calls.append(ev), READ)
    a.close()
    new, peer = reuse_number(n, pairs)
    try:
        loop.add_handler(new, lambda fd, ev: new_calls.append((fd, ev)), READ)
        b.send(b"for the old file only")
        cpu = cpu_for(loop, 0.3)
        assert new_calls == []
        assert old_calls == []
        assert cpu < 0.1, f"loop spun: {cpu:.3f}s CPU in 0.3s"
        assert len(ioloop_warnings(caplog)) <= 1
        peer.send(b"for the new file")
        run_until(loop, lambda: new_calls)
        assert new_calls[0] == (new, READ)
        assert old_calls == []
    finally:
        loop.remove_handler(new)
        new.close()
        keep.close()


# -- dup'd fd closed without removal (uvloop#61) ------------------------------------------------


@pytest.mark.timeout(30)
def test_dup_closed_without_remove_does_not_spin(no_fd_leak, loop, pairs, caplog):
    caplog.set_level(logging.WARNING, logger="ioloop")
    a, b = pairs()
    healthy, hpeer = pairs()
    d = os.dup(a.fileno())
    calls = []
    healthy_calls = []
    loop.add_handler(d, lambda fd, ev: calls.append(ev), READ)
    loop.add_handler(healthy, lambda fd, ev: healthy_calls.append(ev), READ)
    os.close(d)  # stale: the original a keeps the file (and its registration) alive
    b.send(b"x")  # the original stays readable, never drained
    cpu = cpu_for(loop, 0.3)
    assert cpu < 0.1, f"loop spun: {cpu:.3f}s CPU in 0.3s wall"
    assert len(calls) < 100, f"stale handler called {len(calls)} times"
    warnings = ioloop_warnings(caplog)
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    # the other registrations survived the recovery
    hpeer.send(b"y")
    run_until(loop, lambda: healthy_calls)
    assert healthy_calls[0] == READ
    # whatever the recovery did, the loop's epoll fd is intact and CLOEXEC
    epfd = loop.fileno()
    assert fcntl.fcntl(epfd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    interest = kernel_interest(loop)
    assert healthy.fileno() in interest
    # the stale entry is gone: the number can be registered afresh
    n = len(calls)
    d2 = os.dup(a.fileno())
    try:
        got = []
        loop.add_handler(d2, lambda fd, ev: got.append(ev), READ)
        run_until(loop, lambda: got)
        assert got[0] == READ
        loop.remove_handler(d2)
    finally:
        os.close(d2)
    # and the original fd can be registered and works
    loop.add_handler(a, lambda fd, ev: got.append("a"), READ)
    run_until(loop, lambda: "a" in got)
    loop.remove_handler(a)
    assert len(calls) == n
    assert len(ioloop_warnings(caplog)) == 1


@pytest.mark.timeout(30)
def test_stale_registration_warns_once_per_loop(loop, pairs, caplog):
    caplog.set_level(logging.WARNING, logger="ioloop")
    for _ in range(2):
        a, b = pairs()
        d = os.dup(a.fileno())
        loop.add_handler(d, lambda fd, ev: None, READ)
        os.close(d)
        b.send(b"x")
        assert cpu_for(loop, 0.2) < 0.1
    assert len(ioloop_warnings(caplog)) == 1


@pytest.mark.timeout(30)
def test_dup_closed_without_remove_asyncio_reader_does_not_spin(loop, pairs):
    a, b = pairs()
    d = os.dup(a.fileno())
    calls = []
    loop.add_reader(d, calls.append, 1)
    os.close(d)
    b.send(b"x")
    cpu = cpu_for(loop, 0.3)
    assert cpu < 0.1, f"loop spun: {cpu:.3f}s CPU"
    assert len(calls) < 100


@pytest.mark.timeout(30)
@pytest.mark.parametrize("action", ["remove", "update", "add"])
def test_api_call_after_close_with_dup_alive_does_not_spin(loop, pairs, caplog, action):
    # the usual wrong order: close() first, then remove_handler() (or
    # update/add); a dup keeps the file, so the kernel keeps a registration
    # the loop can no longer reach through the closed number.
    caplog.set_level(logging.WARNING, logger="ioloop")
    a, b = pairs()
    d = os.dup(a.fileno())
    calls = []
    loop.add_handler(d, lambda fd, ev: calls.append(ev), READ)
    os.close(d)
    if action == "remove":
        loop.remove_handler(d)  # EBADF inside: silent
    elif action == "update":
        with pytest.raises(ValueError):
            loop.update_handler(d, READ | WRITE)
    else:
        with pytest.raises(OSError) as info:
            loop.add_handler(d, lambda fd, ev: calls.append(ev), READ)
        assert info.value.errno == errno.EBADF
    b.send(b"x")
    cpu = cpu_for(loop, 0.3)
    assert cpu < 0.1, f"loop spun: {cpu:.3f}s CPU in 0.3s"
    assert len(calls) < 100
    if action != "add":
        assert calls == []
    assert len(ioloop_warnings(caplog)) <= 1


@pytest.mark.timeout(30)
def test_remove_stale_number_reused_while_old_file_alive_does_not_spin(loop, pairs):
    a, b = pairs()
    n = a.fileno()
    keep = a.dup()
    calls = []
    loop.add_handler(n, lambda fd, ev: calls.append(ev), READ)
    a.close()
    new, peer = reuse_number(n, pairs)
    try:
        loop.remove_handler(n)  # DEL hits the new file: ENOENT, silent
        os.fstat(n)
        b.send(b"x")  # the old file, still registered in the kernel, is readable
        cpu = cpu_for(loop, 0.3)
        assert cpu < 0.1, f"loop spun: {cpu:.3f}s CPU in 0.3s"
        assert calls == []
        got = []
        loop.add_handler(new, lambda fd, ev: got.append(ev), READ)
        peer.send(b"y")
        run_until(loop, lambda: got)
        loop.remove_handler(new)
    finally:
        new.close()
        keep.close()


@pytest.mark.parametrize("how", ["socket", "int", "dup-original-closed", "pipe"])
def test_healthy_busy_fd_is_never_dropped(loop, pairs, how):
    # the periodic staleness check must not drop a live fd that fires on
    # every iteration for a long time.
    a, b = pairs()
    extra = []
    if how == "socket":
        target = a
    elif how == "int":
        target = a.fileno()
    elif how == "dup-original-closed":
        target = os.dup(a.fileno())
        extra.append(target)
        a.close()
    else:
        r, w = os.pipe()
        extra.extend((r, w))
        target = w
    calls = []
    loop.add_handler(target, lambda fd, ev: calls.append(ev), WRITE)
    try:
        for _ in range(300):
            run_once(loop)
        assert calls == [WRITE] * 300
    finally:
        loop.remove_handler(target)
        for fd in extra:
            os.close(fd)


def test_closed_registered_socket_does_not_spin(loop, pairs):
    a, b = pairs()
    calls = []
    loop.add_handler(a, lambda fd, ev: calls.append(ev), READ | WRITE)
    run_once(loop)
    assert calls == [WRITE]
    a.close()  # no remove_handler, no dup: the kernel drops the registration
    assert cpu_for(loop, 0.2) < 0.1
    assert len(calls) < 100


# -- remove_handler is synchronous -------------------------------------------------------------


def test_remove_handler_then_close_is_gone_from_kernel_set(loop, pairs):
    a, b = pairs()
    n = a.fileno()
    loop.add_handler(a, lambda *x: None, READ)
    assert n in kernel_interest(loop)
    loop.remove_handler(a)
    assert n not in kernel_interest(loop)
    # the uvloop check: modify on a dup of the epoll fd finds nothing
    ep = __import__("select").epoll.fromfd(os.dup(loop.fileno()))
    try:
        with pytest.raises(FileNotFoundError):
            ep.modify(n, READ)
    finally:
        ep.close()
    a.close()
    run_for(loop, 0.02)
    assert n not in kernel_interest(loop)


def test_remove_handler_immediately_followed_by_close_while_data_pending(loop, pairs):
    a, b = pairs()
    c, d = pairs()
    d.send(b"x")
    b.send(b"x")
    calls = []

    def handler(fd, ev):
        calls.append(fd)
        loop.remove_handler(fd)
        fd.close()

    loop.add_handler(a, handler, READ)
    loop.add_handler(c, handler, READ)
    assert cpu_for(loop, 0.1) < 0.1
    assert sorted(map(id, calls)) == sorted([id(a), id(c)])
    assert a.fileno() == -1 and c.fileno() == -1


def test_remove_handler_after_close_is_silent_and_does_not_touch_reused_number(loop, pairs):
    # The number was reused by an unrelated file before the old
    # registration is removed; the new file must not be affected.
    a, b = pairs()
    n = a.fileno()
    loop.add_handler(n, lambda *x: None, READ)
    a.close()
    new, peer = reuse_number(n, pairs)
    try:
        loop.remove_handler(n)  # silent
        loop.remove_handler(n)
        os.fstat(n)  # still open: not closed by the loop
        got = []
        loop.add_handler(new, lambda fd, ev: got.append(ev), READ)
        peer.send(b"x")
        run_until(loop, lambda: got)
        loop.remove_handler(new)
        assert n not in kernel_interest(loop)
    finally:
        new.close()


def test_update_handler_on_closed_fd_raises_value_error_and_drops_entry(loop, pairs):
    a, b = pairs()
    n = a.fileno()
    old = []
    loop.add_handler(n, lambda fd, ev: old.append(ev), READ)
    a.close()
    with pytest.raises(ValueError):
        loop.update_handler(n, READ | WRITE)
    new, peer = reuse_number(n, pairs)
    try:
        peer.send(b"x")  # the new file is readable and writable
        run_for(loop, 0.05)
        assert old == []  # the old handler never got attached to the new file
        with pytest.raises(ValueError):
            loop.update_handler(n, READ)
        got = []
        loop.add_handler(n, lambda fd, ev: got.append(ev), READ)
        run_until(loop, lambda: got)
        assert old == []
        loop.remove_handler(n)
    finally:
        new.close()


# -- same batch: close and reuse the number ---------------------------------------------------------


@pytest.mark.parametrize("remove_first", [True, False])
def test_close_and_reuse_number_in_same_batch_drops_stale_event(loop, pairs, remove_first):
    a, b = pairs()
    c, d = pairs()
    b.send(b"x")
    d.send(b"x")
    spare, spare_peer = pairs()  # never readable: a handler on it must stay silent
    log = []
    state = {}

    def make(me, other):
        def handler(fd, ev):
            log.append(("old", fd))
            if state:
                return
            num = other.fileno()
            if remove_first:
                loop.remove_handler(other)
            other.close()
            os.dup2(spare.fileno(), num)
            state["num"] = num
            loop.add_handler(num, lambda fd, ev: log.append(("new", fd, ev)), READ)
            loop.remove_handler(me)
        return handler

    loop.add_handler(a, make(a, c), READ)
    loop.add_handler(c, make(c, a), READ)
    try:
        run_once(loop)
        assert len(log) == 1 and log[0][0] == "old"
        run_for(loop, 0.05)
        assert [e for e in log if e[0] == "new"] == []
        spare_peer.send(b"y")  # now the new registration has something to report
        run_until(loop, lambda: any(e[0] == "new" for e in log))
        assert [e for e in log if e[0] == "new"][0] == ("new", state["num"], READ)
        assert len([e for e in log if e[0] == "old"]) == 1
    finally:
        if "num" in state:
            loop.remove_handler(state["num"])
            os.close(state["num"])


# -- fd leaks and CLOEXEC ---------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_no_fd_leak_across_50_loop_cycles(make_loop, pairs):
    a, b = pairs()
    gc.collect()
    before = open_fds()
    for i in range(50):
        lp = make_loop()
        lp.add_handler(a, lambda fd, ev: None, READ | WRITE)
        if i % 2:
            lp.add_reader(b, lambda: None)
        lp.call_later(0.0, lp.stop)
        lp.start()
        lp.close()
    gc.collect()
    after = open_fds()
    assert after == before
    a.send(b"still open")  # close(all_fds=False) left the user's fds alone
    assert b.recv(100) == b"still open"


def test_unclosed_loops_do_not_leak_fds_after_gc(make_loop):
    gc.collect()
    before = open_fds()
    for _ in range(10):
        make_loop()
    gc.collect()
    assert open_fds() == before


def test_every_internal_fd_is_cloexec_and_closed_on_close(make_loop):
    std_flags = [fcntl.fcntl(fd, fcntl.F_GETFD) for fd in (0, 1, 2)]
    gc.collect()
    before = open_fds()
    lp = make_loop()
    try:
        created = open_fds() - before
        assert lp.fileno() in created
        run_once(lp)  # anything opened lazily on start
        created |= open_fds() - before
        assert created
        for fd in created:
            assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC, f"fd {fd} inheritable"
            assert not os.get_inheritable(fd)
        assert [fcntl.fcntl(fd, fcntl.F_GETFD) for fd in (0, 1, 2)] == std_flags
    finally:
        lp.close()
    gc.collect()
    assert open_fds() == before


def test_loop_fds_not_inherited_by_child_process(make_loop):
    import subprocess
    import sys
    lp = make_loop()
    try:
        epfd = lp.fileno()
        out = subprocess.run(
            [sys.executable, "-c",
             "import os,sys; print(os.path.exists('/proc/self/fd/%d'))" % epfd],
            capture_output=True, text=True, close_fds=False, timeout=30)
        assert out.stdout.strip() == "False"
    finally:
        lp.close()


# -- many ready fds -----------------------------------------------------------------------------------


def _ensure_nofile(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target < needed:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {needed}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return soft


N_MANY = 3000


@pytest.fixture
def many_ready_pairs():
    old_soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    _ensure_nofile(2 * N_MANY + 200)
    socks = []
    try:
        for _ in range(N_MANY):
            a, b = socket.socketpair()
            socks.append((a, b))
            b.send(b"x")
        yield socks
    finally:
        for a, b in socks:
            a.close()
            b.close()
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (old_soft, hard))


@pytest.mark.timeout(60)
def test_more_ready_fds_than_buffer_all_served_level_triggered(loop, many_ready_pairs):
    seen = {}

    def handler(fd, ev):
        seen[fd] = seen.get(fd, 0) + 1  # never drained: stays ready

    for a, _ in many_ready_pairs:
        loop.add_handler(a.fileno(), handler, READ)
    t0 = time.monotonic()
    iterations = 0
    while len(seen) < N_MANY and iterations < 50:
        run_once(loop)
        iterations += 1
    assert len(seen) == N_MANY, f"{N_MANY - len(seen)} fds starved after {iterations} iterations"
    assert time.monotonic() - t0 < 20
    # fairness: nobody was served many times while others waited
    assert max(seen.values()) <= iterations


@pytest.mark.timeout(60)
def test_more_ready_fds_than_buffer_all_served_when_drained(loop, many_ready_pairs):
    served = []

    def handler(fd, ev):
        assert fd.recv(10) == b"x"
        served.append(fd)
        loop.remove_handler(fd)

    for a, _ in many_ready_pairs:
        loop.add_handler(a, handler, READ)
    iterations = 0
    while len(served) < N_MANY and iterations < 50:
        run_once(loop)
        iterations += 1
    assert len(served) == N_MANY
    assert len(set(map(id, served))) == N_MANY
    assert kernel_interest(loop).keys().isdisjoint(a.fileno() for a, _ in many_ready_pairs)


@pytest.mark.timeout(60)
def test_many_ready_fds_removed_by_first_handler_in_batch(loop, many_ready_pairs):
    # one handler removes every other fd: no stale event of the (large,
    # possibly multi-buffer) batch may be delivered afterwards.
    called = []
    socks = [a for a, _ in many_ready_pairs]

    def handler(fd, ev):
        called.append(fd)
        for s in socks:
            loop.remove_handler(s)

    for s in socks:
        loop.add_handler(s, handler, READ)
    for _ in range(3):
        run_once(loop)
    assert len(called) == 1
