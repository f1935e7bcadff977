"""A correct program on the asyncio side: ``ioloop.run``,
``ioloop.new_event_loop`` as a loop factory, the policy, and asyncio's own
call_soon/call_later/add_reader on an IOLoop. It must type-check with
``mypy --strict`` and pyright and run to the end (tests/test_typing.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
import sys
import warnings

from typing_extensions import assert_type

import ioloop

request_id: contextvars.ContextVar[int] = contextvars.ContextVar("request_id", default=0)


async def echo(data: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    got: asyncio.Future[bytes] = loop.create_future()

    def readable(sock: socket.socket) -> None:
        loop.remove_reader(sock)
        got.set_result(sock.recv(4096))

    loop.add_reader(b, readable, b)
    await loop.sock_sendall(a, data)
    try:
        return await asyncio.wait_for(got, 10)
    finally:
        a.close()
        b.close()


async def main() -> str:
    loop = asyncio.get_running_loop()
    seen: list[int] = []
    ctx = contextvars.copy_context()
    ctx.run(request_id.set, 7)
    loop.call_soon(lambda: seen.append(request_id.get()), context=ctx)
    timer = loop.call_later(0.01, seen.append, 1)
    assert_type(timer, asyncio.TimerHandle)
    await asyncio.sleep(0.05)
    assert seen == [7, 1], seen
    reply = await echo(b"hello")
    return reply.decode()


if __name__ == "__main__":
    print(ioloop.run(main()))

    loop = ioloop.new_event_loop()
    assert_type(loop, ioloop.IOLoop)
    try:
        print(loop.run_until_complete(main()))
    finally:
        loop.close()

    if sys.version_info >= (3, 12):
        print(asyncio.run(main(), loop_factory=ioloop.new_event_loop))
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=ioloop.new_event_loop) as runner:
            print(runner.run(main()))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        policy = ioloop.EventLoopPolicy()
        new = policy.new_event_loop()
        assert isinstance(new, ioloop.IOLoop)
        new.close()
        ioloop.install()
        print(asyncio.run(main()))
        asyncio.set_event_loop_policy(None)
