"""A correct program on the engine's methods, run by ``ioloop.run``.

A socket pair talks through add_handler/update_handler/remove_handler and
add_reader/add_writer; timers with add_timeout (float and timedelta),
call_later, call_at and call_soon; a PeriodicCallback. It must type-check
with ``mypy --strict`` and pyright, with the types asserted below, and run
to the end (tests/test_typing.py does all three).
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import functools
import socket

from typing_extensions import assert_type

import ioloop
from ioloop import IOLoop, PeriodicCallback


async def main() -> list[str]:
    running = asyncio.get_running_loop()
    done: asyncio.Future[None] = running.create_future()
    assert isinstance(running, IOLoop)
    loop = running
    log: list[str] = []
    pending = {"handlers", "absolute", "relative", "later", "reader", "periodic"}
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)

    def on_a(sock: socket.socket, events: int) -> None:
        # The handler gets back the object it was registered with.
        assert_type(sock, socket.socket)
        if events & IOLoop.WRITE:
            sock.send(b"ping")
            loop.update_handler(sock, IOLoop.READ)
        elif events & IOLoop.READ:
            reply = sock.recv(16).decode()
            loop.remove_handler(sock)
            loop.add_callback(finish, "handlers", result=reply)

    def on_b(fd: int, events: int) -> None:
        data = b.recv(16)
        b.send(data.replace(b"ping", b"pong"))
        loop.remove_handler(fd)

    loop.add_handler(a, on_a, IOLoop.WRITE)
    loop.add_handler(b.fileno(), on_b, IOLoop.READ | IOLoop.ERROR)

    def finish(step: str, *, result: str) -> None:
        log.append(f"{step}: {result}")
        pending.discard(step)
        if not pending and not done.done():
            done.set_result(None)

    def tick(label: str) -> None:
        finish(label, result="ran")

    t1 = loop.add_timeout(loop.time() + 0.01, tick, "absolute")
    t2 = loop.add_timeout(datetime.timedelta(milliseconds=20), tick, label="relative")
    t3 = loop.call_later(0.03, functools.partial(tick, "later"))
    assert_type(t1, ioloop.TimerHandle)
    assert_type(t2, ioloop.TimerHandle)
    assert_type(t3.when(), float)
    never = loop.call_at(loop.time() + 3600, tick, "never")
    loop.remove_timeout(never)
    assert never.cancelled()

    ctx = contextvars.copy_context()
    h = loop.call_soon(log.append, "soon", context=ctx)
    assert_type(h, ioloop.Handle)
    assert_type(h.get_context(), contextvars.Context)
    loop.call_soon_threadsafe(log.append, "threadsafe")

    runs: list[float] = []

    def beat() -> None:
        runs.append(loop.time())
        if len(runs) == 2:
            pc.stop()
            finish("periodic", result="2 runs")

    pc = PeriodicCallback(beat, 5)
    pc.start()
    assert pc.is_running()

    r, w = socket.socketpair()

    def readable(sock: socket.socket) -> None:
        loop.remove_reader(sock)
        finish("reader", result=sock.recv(16).decode())

    def writable() -> None:
        assert loop.remove_writer(w)
        w.send(b"hi")

    loop.add_reader(r, readable, r)
    loop.add_writer(w, writable)

    await asyncio.wait_for(done, 10)
    for s in (a, b, r, w):
        s.close()
    assert len(runs) == 2 and not pc.is_running()
    return log


if __name__ == "__main__":
    result = ioloop.run(main())
    assert_type(result, list[str])
    print(sorted(result))
