"""Plain helpers shared by the asyncio networking tests (test_net_*.py).

Their fixtures (``aloop``: ioloop's loop or stock asyncio's as the
reference; ``sockdir``: a short directory for Unix socket paths) live in
conftest.py. Imported as ``from netsupport import ...``, like support.py.
"""

import asyncio
import hashlib
import os
import socket

import ioloop

TIMEOUT = 10.0


def run(loop, coro, timeout=TIMEOUT):
    """Run ``coro`` on ``loop``, failing (not hanging) after ``timeout``."""
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


def is_ioloop(loop):
    return isinstance(loop, ioloop.IOLoop)


def handler_log(loop):
    """Install an exception handler that records contexts; return the list."""
    seen = []
    loop.set_exception_handler(lambda lp, ctx: seen.append(ctx))
    return seen


async def settle(n=3):
    """Let ``n`` loop iterations pass."""
    for _ in range(n):
        await asyncio.sleep(0)


def payload(n):
    return os.urandom(n)


def digest(b):
    return hashlib.sha256(b).hexdigest()


def _has_ipv6():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


HAS_IPV6 = _has_ipv6()


def tcp_listener(backlog=5):
    """A non-blocking listening loopback TCP socket (the caller closes it)."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(backlog)
    lsock.setblocking(False)
    return lsock


# -- stream protocols and servers ------------------------------------------------------


class Lifecycle:
    """The bookkeeping every recording protocol shares (mix in before the
    asyncio protocol class): ``made`` and ``lost`` futures, the transport,
    and how many times connection_lost ran."""

    def __init__(self, loop):
        self.loop = loop
        self.transport = None
        self.made = loop.create_future()
        self.lost = loop.create_future()
        self.lost_count = 0

    def connection_made(self, transport):
        self.transport = transport
        self.made.set_result(transport)

    def connection_lost(self, exc):
        self.lost_count += 1
        if not self.lost.done():
            self.lost.set_result(exc)


class Recorder(Lifecycle, asyncio.Protocol):
    """Records every callback, checking their order; futures for the
    interesting moments. ``echo`` writes back what arrives; ``eof_result``
    is what ``eof_received`` returns (None: the transport closes itself)."""

    def __init__(self, loop, echo=False, eof_result=None):
        super().__init__(loop)
        self.echo = echo
        self.events = []
        self.data = bytearray()
        self.eof_result = eof_result
        self.eof = loop.create_future()
        self.in_close = False
        self._want = None

    def connection_made(self, transport):
        assert self.transport is None, "connection_made called twice"
        self.events.append("made")
        super().connection_made(transport)

    def data_received(self, data):
        assert self.transport is not None
        assert not self.eof.done(), "data after eof"
        assert not self.lost.done(), "data after connection_lost"
        assert isinstance(data, bytes) and data
        if not self.events or self.events[-1] != "data":
            self.events.append("data")
        self.data += data
        if self.echo:
            self.transport.write(data)
        if self._want is not None and len(self.data) >= self._want[0]:
            fut = self._want[1]
            self._want = None
            if not fut.done():
                fut.set_result(None)

    def eof_received(self):
        assert not self.lost.done(), "eof after connection_lost"
        self.events.append("eof")
        self.eof.set_result(None)
        return self.eof_result

    def connection_lost(self, exc):
        assert not self.in_close, "connection_lost called synchronously from close()"
        self.events.append(("lost", exc))
        super().connection_lost(exc)

    async def received(self, n):
        """Wait until at least n bytes arrived."""
        if len(self.data) >= n:
            return
        fut = self.loop.create_future()
        self._want = (n, fut)
        await fut


async def tcp_server(loop, factory, host="127.0.0.1", **kw):
    """A loopback server on a free port; returns (server, (host, port))."""
    server = await loop.create_server(factory, host, 0, **kw)
    return server, server.sockets[0].getsockname()[:2]


async def close_server(server):
    server.close()
    await server.wait_closed()


def slow_reader(received, delay=0.0005):
    """A stream handler for ``start_server``: reads to EOF into the
    bytearray ``received``, sleeping ``delay`` after each chunk, then
    closes its writer."""
    async def handle(reader, writer):
        while True:
            chunk = await reader.read(64 * 1024)
            if not chunk:
                break
            received.extend(chunk)
            await asyncio.sleep(delay)
        writer.close()
        await writer.wait_closed()

    return handle


def small_buffers(sender_tr, receiver_tr, size=64 * 1024):
    """Lock small kernel buffers (no autotuning), so that a few MiB
    written really back up in the sending transport."""
    sender_tr.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
    receiver_tr.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
