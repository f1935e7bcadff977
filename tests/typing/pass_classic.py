"""A correct program on Tornado's classic API: an echo server and a client
on ``IOLoop.current()``, timers, a PeriodicCallback, start/stop and
run_sync. It must type-check with ``mypy --strict`` and pyright, with the
types asserted below, and run to the end (tests/test_typing.py).
"""

from __future__ import annotations

import datetime
import functools
import socket

from typing_extensions import assert_type

import ioloop
from ioloop import IOLoop, PeriodicCallback


def echo_once() -> bytes:
    """Serve one echo over loopback with add_handler; return the reply."""
    loop = IOLoop.current()
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    replies: list[bytes] = []

    def on_client(conn: socket.socket, fd: socket.socket, events: int) -> None:
        data = conn.recv(4096)
        if data:
            conn.send(data)
        else:
            loop.remove_handler(conn)
            conn.close()

    def on_accept(sock: socket.socket, events: int) -> None:
        conn, _ = sock.accept()
        conn.setblocking(False)
        loop.add_handler(conn, functools.partial(on_client, conn), IOLoop.READ)

    client = socket.create_connection(server.getsockname())
    client.setblocking(False)

    def on_reply(fd: int, events: int) -> None:
        if events & IOLoop.WRITE:
            client.send(b"hello")
            loop.update_handler(fd, IOLoop.READ)
        elif events & IOLoop.READ:
            replies.append(client.recv(4096))
            loop.remove_handler(fd)
            loop.stop()

    loop.add_handler(server, on_accept, IOLoop.READ)
    loop.add_handler(client.fileno(), on_reply, IOLoop.WRITE)
    timeout = loop.add_timeout(datetime.timedelta(seconds=10), loop.stop)
    loop.start()
    loop.remove_timeout(timeout)
    loop.remove_handler(server)
    server.close()
    client.close()
    return replies[0]


def timers() -> list[str]:
    loop = IOLoop.current()
    fired: list[str] = []

    def fire(name: str, *, then_stop: bool = False) -> None:
        fired.append(name)
        if then_stop:
            loop.stop()

    deadline = loop.time() + 0.01
    t = loop.add_timeout(deadline, fire, "add_timeout")
    assert_type(t, ioloop.TimerHandle)
    assert t.when() == deadline
    loop.call_later(0.02, fire, "call_later")
    loop.add_callback(fire, "add_callback")
    loop.call_at(loop.time() + 0.03, fire, "call_at", then_stop=True)

    ticks: list[float] = []

    def tick() -> None:
        ticks.append(loop.time())

    pc = PeriodicCallback(tick, datetime.timedelta(milliseconds=5), jitter=0.1)
    pc.start()
    loop.start()
    pc.stop()
    return fired


async def compute(x: int) -> int:
    loop = IOLoop.current()
    loop.add_callback(print, "computing", x)
    return x * 2


def main() -> None:
    print(echo_once())
    print(timers())
    loop = IOLoop.current()
    result = loop.run_sync(functools.partial(compute, 21), timeout=10)
    assert result == 42
    print(result)
    loop.close()


if __name__ == "__main__":
    main()
