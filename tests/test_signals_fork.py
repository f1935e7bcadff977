"""Signals (Ctrl-C, set_wakeup_fd, add_callback_from_signal, EINTR) and fork.

docs/behaviour.md "Signals and EINTR" and "Fork".
"""

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

import pytest

import ioloop
from ioloop import IOLoop

from support import SRC, epoll_interest, run_until

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(sys.platform != "linux", reason="Linux epoll engine"),
]


def child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    if ioloop.implementation == "python":
        env["IOLOOP_NO_EXTENSIONS"] = "1"
    else:
        env.pop("IOLOOP_NO_EXTENSIONS", None)
        env["IOLOOP_REQUIRE_EXTENSIONS"] = "1"
    return env


def in_main_thread():
    return threading.current_thread() is threading.main_thread()


needs_main_thread = pytest.mark.skipif(
    not in_main_thread(), reason="signals are delivered to the main thread")


@pytest.fixture
def sigusr1_handler():
    """Install a Python SIGUSR1 handler for the test; restore after."""
    installed = {}

    def install(func):
        installed["old"] = signal.signal(signal.SIGUSR1, func)

    yield install
    if "old" in installed:
        signal.signal(signal.SIGUSR1, installed["old"])


@pytest.fixture
def no_wakeup_fd():
    """Start the test with no signal wake-up fd; restore the old one after."""
    old = signal.set_wakeup_fd(-1)
    yield
    signal.set_wakeup_fd(old)


# -- Ctrl-C --------------------------------------------------------------------------------

CTRL_C_CLASSIC = r"""
import sys, time, ioloop
loop = ioloop.IOLoop()
loop.call_later(60, loop.stop)
print("IMPL", ioloop.implementation, flush=True)
print("READY", flush=True)
t0 = time.monotonic()
try:
    loop.start()
except KeyboardInterrupt:
    print("KEYBOARDINTERRUPT %.3f" % (time.monotonic() - t0), flush=True)
    # The loop is left usable.
    loop.call_later(0.01, loop.stop)
    loop.start()
    print("RESTARTED", flush=True)
    loop.close()
    sys.exit(0)
print("NO-INTERRUPT", flush=True)
sys.exit(3)
"""

CTRL_C_ASYNCIO = r"""
import asyncio, sys, time, ioloop
print("IMPL", ioloop.implementation, flush=True)
async def main():
    print("READY", flush=True)
    await asyncio.sleep(60)
try:
    ioloop.run(main())
except KeyboardInterrupt:
    print("KEYBOARDINTERRUPT", flush=True)
    sys.exit(0)
print("NO-INTERRUPT", flush=True)
sys.exit(3)
"""

CTRL_C_NO_TIMERS = r"""
import sys, ioloop
loop = ioloop.IOLoop()
print("IMPL", ioloop.implementation, flush=True)
print("READY", flush=True)
try:
    loop.start()   # nothing scheduled: epoll_wait(-1)
except KeyboardInterrupt:
    print("KEYBOARDINTERRUPT", flush=True)
    sys.exit(0)
sys.exit(3)
"""


def _run_ctrl_c(prog):
    proc = subprocess.Popen(
        [sys.executable, "-c", prog], env=child_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        t_end = time.monotonic() + 20
        while time.monotonic() < t_end:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
            if line.strip() == "READY":
                break
        assert "READY" in lines, (lines, proc.stderr.read() if proc.poll() is not None else "")
        time.sleep(0.3)  # let it go to sleep in epoll_wait
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=5)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    lines += out.splitlines()
    return proc.returncode, "\n".join(lines), err, took


@pytest.mark.default_engine
@needs_main_thread
def test_ctrl_c_while_sleeping_classic():
    rc, out, err, took = _run_ctrl_c(CTRL_C_CLASSIC)
    assert f"IMPL {ioloop.implementation}" in out.splitlines()
    assert "KEYBOARDINTERRUPT" in out, (out, err)
    assert "RESTARTED" in out, (out, err)
    assert rc == 0, (rc, out, err)
    assert took < 5
    assert "Traceback" not in err, err


@pytest.mark.default_engine
@needs_main_thread
def test_ctrl_c_while_sleeping_forever():
    rc, out, err, took = _run_ctrl_c(CTRL_C_NO_TIMERS)
    assert "KEYBOARDINTERRUPT" in out, (out, err)
    assert rc == 0
    assert took < 5


@pytest.mark.default_engine
@needs_main_thread
def test_ctrl_c_while_sleeping_asyncio():
    rc, out, err, took = _run_ctrl_c(CTRL_C_ASYNCIO)
    assert "KEYBOARDINTERRUPT" in out, (out, err)
    assert rc == 0, (rc, out, err)
    assert took < 5


# -- set_wakeup_fd --------------------------------------------------------------------------


def _current_wakeup_fd():
    fd = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(fd)
    return fd


@needs_main_thread
def test_wakeup_fd_points_at_loop_during_start_and_is_restored(loop, no_wakeup_fd):
    seen = []
    loop.add_callback(lambda: (seen.append(_current_wakeup_fd()), loop.stop()))
    loop.start()
    assert len(seen) == 1
    fd = seen[0]
    assert fd != -1, "start() did not set a signal wake-up fd"
    # It is one of the loop's own fds, CLOEXEC and non-blocking as CPython requires.
    assert os.get_blocking(fd) is False
    assert os.get_inheritable(fd) is False
    assert _current_wakeup_fd() == -1, "previous wake-up fd (-1) not restored"
    # Repeatable.
    loop.add_callback(lambda: (seen.append(_current_wakeup_fd()), loop.stop()))
    loop.start()
    assert seen[1] != -1
    assert _current_wakeup_fd() == -1


@needs_main_thread
def test_wakeup_fd_set_by_user_is_restored(loop, no_wakeup_fd):
    a, b = socket.socketpair()
    try:
        a.setblocking(False)
        signal.set_wakeup_fd(a.fileno())
        seen = []
        loop.add_callback(lambda: (seen.append(_current_wakeup_fd()), loop.stop()))
        loop.start()
        assert seen and seen[0] != -1
        assert _current_wakeup_fd() == a.fileno()
        # run_sync and KeyboardInterrupt paths restore it as well
        loop.run_sync(lambda: None)
        assert _current_wakeup_fd() == a.fileno()

        def boom():
            raise KeyboardInterrupt

        loop.add_callback(boom)
        with pytest.raises(KeyboardInterrupt):
            loop.start()
        assert _current_wakeup_fd() == a.fileno()
    finally:
        signal.set_wakeup_fd(-1)
        a.close()
        b.close()


@needs_main_thread
def test_wakeup_fd_untouched_by_loop_in_other_thread(loop, no_wakeup_fd):
    errors = []

    def target():
        try:
            loop.add_callback(loop.stop)
            loop.start()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    t = threading.Thread(target=target)
    t.start()
    t.join(10)
    assert errors == []
    assert _current_wakeup_fd() == -1


@needs_main_thread
def test_wakeup_fd_restored_after_keyboard_interrupt(loop, no_wakeup_fd):
    def boom():
        raise KeyboardInterrupt

    loop.add_callback(boom)
    with pytest.raises(KeyboardInterrupt):
        loop.start()
    assert _current_wakeup_fd() == -1


# -- Python signal handlers and the loop ---------------------------------------------------


@needs_main_thread
def test_signal_handler_add_callback_from_signal_wakes_loop(loop, sigusr1_handler):
    """EINTR path: the signal interrupts epoll_wait in the main thread."""
    got = []

    def handler(signum, frame):
        got.append(time.monotonic())
        loop.add_callback_from_signal(loop.stop)

    sigusr1_handler(handler)
    main = threading.get_ident()
    sent = []

    def sender():
        time.sleep(0.1)
        sent.append(time.monotonic())
        signal.pthread_kill(main, signal.SIGUSR1)

    loop.call_later(3600, lambda: None)
    fallback = loop.call_later(5, loop.stop)
    t = threading.Thread(target=sender)
    t.start()
    t0 = time.monotonic()
    loop.start()
    t.join()
    assert got, "signal handler did not run"
    assert time.monotonic() - sent[0] < 0.5
    assert time.monotonic() - t0 < 2
    loop.remove_timeout(fallback)


@needs_main_thread
def test_signal_delivered_to_other_thread_wakes_loop(loop, sigusr1_handler, no_wakeup_fd):
    """wake-up fd path: SIGUSR1 is blocked in the main thread, so the kernel
    delivers it to a helper thread; only set_wakeup_fd can wake the loop
    (and then the handler must run promptly in the main thread)."""
    got = []

    def handler(signum, frame):
        got.append(threading.get_ident())
        loop.add_callback_from_signal(loop.stop)

    sigusr1_handler(handler)
    go = threading.Event()

    def sender():
        go.wait(10)
        time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGUSR1)

    t = threading.Thread(target=sender)  # created before the mask change
    t.start()
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    try:
        loop.call_later(3600, lambda: None)
        fallback = loop.call_later(5, loop.stop)
        loop.add_callback(go.set)
        t0 = time.monotonic()
        loop.start()
        elapsed = time.monotonic() - t0
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        go.set()
        t.join()
    assert got == [threading.get_ident()], "handler did not run (in the main thread)"
    assert elapsed < 1.5, f"loop woke only after {elapsed:.2f}s"
    loop.remove_timeout(fallback)


@needs_main_thread
def test_eintr_retries_with_remaining_timeout(loop, sigusr1_handler):
    """Signals arriving while the loop sleeps do not fire the timer early and
    do not make it sleep past its deadline."""
    hits = []
    sigusr1_handler(lambda s, f: hits.append(s))
    main = threading.get_ident()
    stop_sending = threading.Event()

    def sender():
        while not stop_sending.wait(0.03):
            signal.pthread_kill(main, signal.SIGUSR1)

    fired = []
    h = loop.call_later(0.3, lambda: (fired.append(time.monotonic()), loop.stop()))
    fallback = loop.call_later(5, loop.stop)
    t = threading.Thread(target=sender)
    t.start()
    try:
        loop.start()
    finally:
        stop_sending.set()
        t.join()
    assert len(hits) >= 3
    assert fired and fired[0] >= h.when()
    assert fired[0] - h.when() < 0.2
    loop.remove_timeout(fallback)


@needs_main_thread
def test_exception_from_signal_handler_propagates_out_of_start(loop, sigusr1_handler):
    class Boom(Exception):
        pass

    def handler(signum, frame):
        raise Boom()

    sigusr1_handler(handler)
    main = threading.get_ident()
    timer = threading.Timer(0.1, signal.pthread_kill, (main, signal.SIGUSR1))
    fallback = loop.call_later(5, loop.stop)
    timer.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(Boom):
            loop.start()
    finally:
        timer.join()
    assert time.monotonic() - t0 < 2
    assert not loop.is_running()
    loop.remove_timeout(fallback)
    # still usable
    loop.add_callback(loop.stop)
    loop.start()


# -- fork -----------------------------------------------------------------------------------------


def _epoll_targets(epfd):
    """fds registered in an epoll set."""
    return set(epoll_interest(epfd))


def _fork_and_check(child_fn, timeout=20):
    """Run child_fn() in a forked child; return its JSON result."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            os.close(r)
            try:
                result = child_fn()
                code = 0
            except BaseException:  # noqa: BLE001
                result = {"child-error": traceback.format_exc()}
            os.write(w, json.dumps(result).encode())
        finally:
            os._exit(code)
    os.close(w)
    deadline = time.monotonic() + timeout
    chunks = []
    while True:
        rl, _, _ = select.select([r], [], [], max(0.0, deadline - time.monotonic()))
        if not rl:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(r)
            pytest.fail("forked child timed out")
        data = os.read(r, 65536)
        if not data:
            break
        chunks.append(data)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    result = json.loads(b"".join(chunks).decode() or "{}")
    assert "child-error" not in result, result.get("child-error")
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, result)
    return result


def _raises_fork_error(fn):
    try:
        fn()
    except RuntimeError as exc:
        return "fork" in str(exc).lower()
    return False


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_must_reinit_and_parent_is_untouched(loop):
    a, b = socket.socketpair()
    try:
        parent_hits = []
        loop.add_handler(a, lambda fd, ev: (parent_hits.append(ev), a.recv(100)), IOLoop.READ)
        pending_timer = loop.call_later(0.01, lambda: None)
        # Make sure everything the loop lazily creates exists before fork.
        loop.add_callback(loop.stop)
        loop.start()
        epfd = loop.fileno()
        before = _epoll_targets(epfd)
        assert a.fileno() in before

        def child():
            res = {}
            res["start"] = _raises_fork_error(loop.start)
            res["add_callback"] = _raises_fork_error(lambda: loop.add_callback(lambda: None))
            c, d = socket.socketpair()
            res["add_handler"] = _raises_fork_error(
                lambda: loop.add_handler(c, lambda fd, ev: None, IOLoop.READ))
            res["call_later"] = _raises_fork_error(lambda: loop.call_later(0, lambda: None))
            res["run_sync"] = _raises_fork_error(lambda: loop.run_sync(lambda: None))
            # Nothing the child did may have edited the shared epoll set.
            res["targets_after_refusals"] = sorted(_epoll_targets(epfd))
            loop.reinit_after_fork()
            fired = []
            loop.call_later(0.01, fired.append, "child-timer")
            loop.call_later(0.02, loop.stop)
            loop.start()
            res["child_timer"] = fired
            # A handler works in the child's fresh epoll set...
            child_hits = []
            loop.add_handler(c, lambda fd, ev: (child_hits.append(ev), c.recv(10), loop.stop()),
                             IOLoop.READ)
            d.send(b"x")
            loop.call_later(2, loop.stop)
            loop.start()
            res["child_handler"] = len(child_hits)
            # ... and removing the inherited one only affects the child.
            loop.remove_handler(a)
            loop.remove_handler(c)
            loop.close()
            c.close()
            d.close()
            return res

        res = _fork_and_check(child)
        assert res["start"], "start() in the child must raise RuntimeError mentioning fork"
        assert res["add_callback"], "add_callback() in the child must raise RuntimeError"
        assert res["add_handler"], "add_handler() in the child must raise RuntimeError"
        assert res["call_later"], "call_later() in the child must raise RuntimeError"
        assert res["run_sync"], "run_sync() in the child must raise RuntimeError"
        assert set(res["targets_after_refusals"]) == before
        assert res["child_timer"] == ["child-timer"]
        assert res["child_handler"] == 1

        # Parent: epoll set intact, its handler still fires.
        assert _epoll_targets(epfd) == before
        b.send(b"ping")
        run_until(loop, lambda: parent_hits, timeout=2)
        assert parent_hits[0] & IOLoop.READ
        loop.remove_timeout(pending_timer)
    finally:
        loop.remove_handler(a)
        a.close()
        b.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_cleanup_without_reinit_leaves_parent_alone(loop):
    """A child that just removes handlers and closes the inherited loop (no
    reinit) must not change the parent's epoll set."""
    a, b = socket.socketpair()
    try:
        hits = []
        loop.add_handler(a, lambda fd, ev: (hits.append(ev), a.recv(100), loop.stop()), IOLoop.READ)
        epfd = loop.fileno()
        before = _epoll_targets(epfd)

        def child():
            try:
                loop.remove_handler(a)
            except RuntimeError:
                pass
            try:
                loop.update_handler(a, IOLoop.WRITE)
            except (RuntimeError, ValueError):
                pass
            loop.close()
            return {"ok": True}

        assert _fork_and_check(child) == {"ok": True}
        assert _epoll_targets(epfd) == before
        b.send(b"x")
        loop.call_later(2, loop.stop)
        loop.start()
        assert len(hits) == 1 and hits[0] & IOLoop.READ
    finally:
        loop.remove_handler(a)
        a.close()
        b.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_reinit_keeps_timers_and_callbacks(loop):
    loop.call_later(0.02, lambda: None)  # make the heap non-trivial

    def child():
        got = []
        when = time.monotonic() + 0.01

        loop.reinit_after_fork()
        loop.call_at(when, got.append, "timer")
        loop.add_callback(got.append, "callback")
        loop.call_later(0.05, loop.stop)
        loop.start()
        return {"got": got, "pre": pre}

    pre = []
    loop.add_callback(pre.append, "queued-before-fork")
    res = _fork_and_check(child)
    assert res["got"] == ["callback", "timer"]
    # The callback queued before fork is kept by reinit_after_fork().
    assert res["pre"] == ["queued-before-fork"]
    # Parent unaffected: its queued callback still runs here.
    loop.call_later(0.01, loop.stop)
    loop.start()
    assert pre == ["queued-before-fork"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_from_non_main_thread(loop):
    """uvloop#452: fork in a thread; the child (whose only thread is the
    forking one) reinitialises the loop and runs it, wake-up fd included."""
    loop.call_later(3600, lambda: None)
    out = {}

    def child():
        loop.reinit_after_fork()
        fired = []
        loop.call_later(0.01, fired.append, "timer")
        loop.call_later(0.03, loop.stop)
        t = threading.Thread(
            target=lambda: (time.sleep(0.005), loop.add_callback(fired.append, "cb")))
        t.start()
        loop.start()
        t.join()
        return {"fired": fired}

    def target():
        try:
            out["res"] = _fork_and_check(child)
        except BaseException as exc:  # noqa: BLE001
            out["err"] = exc

    t = threading.Thread(target=target)
    t.start()
    t.join(30)
    assert "err" not in out, out.get("err")
    assert sorted(out["res"]["fired"]) == ["cb", "timer"]
    # the parent loop is fine
    loop.add_callback(loop.stop)
    loop.start()
