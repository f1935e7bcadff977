"""Wrong programs: every line marked ``# E`` must be rejected by the type
checkers, and no other line (tests/test_typing.py). Never run."""

from __future__ import annotations

import asyncio
import datetime
import socket

import ioloop
from ioloop import IOLoop, PeriodicCallback


def nothing() -> None: ...
def takes_int(n: int) -> None: ...
def on_socket(sock: socket.socket, events: int) -> None: ...
def on_fd(fd: int, events: int) -> None: ...
async def main() -> int:
    return 1


def timers(loop: IOLoop) -> None:
    loop.add_timeout("soon", nothing)  # E: a deadline is a number or a timedelta
    loop.add_timeout(datetime.datetime.now(), nothing)  # E: a datetime is not a deadline
    loop.call_later("1", nothing)  # E: delay in seconds, a number
    loop.call_at(loop.time() + 1, takes_int, "1")  # E: the callback takes an int
    loop.call_later(1.0, takes_int)  # E: the callback's argument is missing
    loop.add_timeout(1.0, takes_int, 1, 2)  # E: one argument too many
    loop.remove_timeout(loop.call_later(1.0, nothing))
    handle: ioloop.TimerHandle = loop.call_soon(nothing)  # E: call_soon returns a Handle


def callbacks(loop: IOLoop) -> None:
    loop.add_callback(takes_int)  # E: missing argument
    loop.add_callback(takes_int, 1, extra=2)  # E: unexpected keyword argument
    loop.add_callback(takes_int, n="1")  # E: the keyword argument is an int
    loop.call_soon(nothing, context="ctx")  # E: context is a contextvars.Context
    loop.call_soon_threadsafe(takes_int, 1.5)  # E: a float is not an int


def handlers(loop: IOLoop, sock: socket.socket) -> None:
    loop.add_handler(sock, on_socket, "READ")  # E: events is an int mask
    loop.add_handler(sock, on_fd, IOLoop.READ)  # E: the handler gets the socket back, not an int
    loop.add_handler(sock.fileno(), on_socket, IOLoop.READ)  # E: the handler gets an int
    loop.add_handler(sock, nothing, IOLoop.READ)  # E: a handler takes (fd, events)
    loop.add_handler("sock", on_fd, IOLoop.READ)  # E: not an fd
    loop.update_handler(sock, "WRITE")  # E: events is an int mask
    loop.remove_handler(3.0)  # E: not an fd
    loop.add_reader(sock, takes_int, "x")  # E: the reader takes an int
    loop.add_writer(sock, nothing, 1)  # E: the writer takes no argument
    removed: str = loop.remove_reader(sock)  # E: remove_reader returns a bool


def periodic() -> None:
    PeriodicCallback(nothing, "1s")  # E: callback_time is milliseconds or a timedelta
    PeriodicCallback(takes_int, 1000)  # E: the callback takes no argument
    PeriodicCallback(nothing, 1000, jitter="0.1")  # E: jitter is a number


def entry_points() -> None:
    ioloop.run(main)  # E: run() takes a coroutine, not the function
    ioloop.run(main(), debug="yes")  # E: debug is a bool
    ioloop.new_event_loop(debug=True)  # E: new_event_loop takes no argument
    result: str = ioloop.run(main())  # E: main() returns an int
    loop: asyncio.AbstractEventLoop = ioloop.new_event_loop()
    loop.call_later(1.0, takes_int, "1")  # E: asyncio's own signature rejects it too
