"""Servers of the asyncio face: create_server (hosts, ports, socket options,
sock=, start_serving), the Server object (sockets, is_serving, close,
wait_closed, close_clients, abort_clients, serve_forever, async with), many
concurrent clients, Unix servers, connect_accepted_socket, and accept()
backing off on EMFILE.

Every test runs on ioloop and on stock asyncio (the reference). Where
asyncio's behaviour changed across Python versions (wait_closed waiting for
connections, 3.12.1; Unix socket cleanup, 3.13) the asyncio run checks the
running Python's behaviour and ioloop is held to the newer one; APIs that
are new in asyncio (close_clients, abort_clients: 3.13) are skipped on the
asyncio run of an older Python.
"""

import asyncio
import errno
import gc
import os
import resource
import shutil
import socket
import subprocess
import sys
import time

import pytest

from netsupport import (HAS_IPV6, Recorder, close_server, digest, handler_log, is_ioloop,
                        payload, run,
                        small_buffers, tcp_server)
from support import open_fds

pytestmark = pytest.mark.timeout(60)


# -- helpers --------------------------------------------------------------------------------


class Factory:
    """A protocol factory that keeps the protocols it made."""

    def __init__(self, loop, **kw):
        self.loop = loop
        self.kw = kw
        self.made = []

    def __call__(self):
        p = Recorder(self.loop, **self.kw)
        self.made.append(p)
        return p


async def roundtrip(loop, host, port, msg=b"ping"):
    """Connect, send msg, read the echo back, close."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(msg)
        got = await reader.readexactly(len(msg))
    finally:
        writer.close()
        await writer.wait_closed()
    return got


async def refused(host, port):
    """Whether a connection to host:port is refused."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except ConnectionRefusedError:
        return True
    writer.close()
    await writer.wait_closed()
    return False


async def drain_protocols(factory):
    for p in factory.made:
        if p.transport is not None and not p.transport.is_closing():
            p.transport.close()
    for p in factory.made:
        if p.transport is not None:
            await p.lost


# -- create_server: addresses ---------------------------------------------------------------


def test_port_zero_and_sockets(aloop):
    async def main():
        f = Factory(aloop, echo=True)
        server = await aloop.create_server(f, "127.0.0.1", 0)
        assert server.get_loop() is aloop
        assert server.is_serving()
        socks = server.sockets
        assert isinstance(socks, tuple) and len(socks) == 1
        s = socks[0]
        assert s.family == socket.AF_INET and s.type == socket.SOCK_STREAM
        host, port = s.getsockname()
        assert host == "127.0.0.1" and port > 0
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        # reuse_address defaults to True on Unix
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0
        assert await roundtrip(aloop, host, port) == b"ping"
        await drain_protocols(f)
        server.close()
        assert not server.is_serving()
        assert server.sockets == ()
        await server.wait_closed()
        assert await refused(host, port)
        server.close()  # twice is fine

    run(aloop, main())


def test_host_list(aloop):
    async def main():
        f = Factory(aloop, echo=True)
        hosts = ["127.0.0.1", "::1"] if HAS_IPV6 else ["127.0.0.1"]
        server = await aloop.create_server(f, hosts, 0)
        fams = sorted(s.family for s in server.sockets)
        assert fams == sorted({socket.AF_INET, socket.AF_INET6} if HAS_IPV6 else {socket.AF_INET})
        for s in server.sockets:
            host, port = s.getsockname()[:2]
            assert port > 0
            if s.family == socket.AF_INET6:
                assert s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
            assert await roundtrip(aloop, host, port, b"to " + host.encode()) == \
                b"to " + host.encode()
        await drain_protocols(f)
        server.close()
        await server.wait_closed()
        # the same address twice: one socket
        server = await aloop.create_server(f, ["127.0.0.1", "127.0.0.1"], 0)
        assert len(server.sockets) == 1
        await close_server(server)

    run(aloop, main())


@pytest.mark.parametrize("host", [None, ""])
def test_all_interfaces(aloop, host):
    async def main():
        f = Factory(aloop, echo=True)
        server = await aloop.create_server(f, host, 0)
        fams = {s.family for s in server.sockets}
        assert socket.AF_INET in fams
        if HAS_IPV6:
            assert socket.AF_INET6 in fams
        for s in server.sockets:
            addr = s.getsockname()
            if s.family == socket.AF_INET:
                assert addr[0] == "0.0.0.0"
                assert await roundtrip(aloop, "127.0.0.1", addr[1]) == b"ping"
            else:
                assert addr[0] == "::"
                assert s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
                assert await roundtrip(aloop, "::1", addr[1]) == b"ping"
        await drain_protocols(f)
        await close_server(server)

    run(aloop, main())


def test_reuse_port(aloop):
    async def main():
        f = Factory(aloop)
        s1 = await aloop.create_server(f, "127.0.0.1", 0, reuse_port=True)
        port = s1.sockets[0].getsockname()[1]
        assert s1.sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) != 0
        s2 = await aloop.create_server(f, "127.0.0.1", port, reuse_port=True)
        assert s2.sockets[0].getsockname()[1] == port
        # without SO_REUSEPORT the port is taken
        with pytest.raises(OSError) as info:
            await aloop.create_server(f, "127.0.0.1", port)
        assert info.value.errno == errno.EADDRINUSE
        for s in (s1, s2):
            s.close()
            await s.wait_closed()

    run(aloop, main())


def test_rebind_after_close_with_time_wait(aloop):
    """SO_REUSEADDR (the default): a server can listen again on its port
    while the connections it closed sit in TIME_WAIT."""
    async def main():
        f = Factory(aloop)
        server = await aloop.create_server(f, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        p = await asyncio.wait_for(_first_made(f), 5)
        p.transport.close()  # the server side closes first: TIME_WAIT is here
        assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()
        await p.lost
        server.close()
        await server.wait_closed()
        server = await aloop.create_server(f, "127.0.0.1", port)
        assert server.sockets[0].getsockname()[1] == port
        await close_server(server)

    run(aloop, main())


async def _first_made(factory, index=0):
    while len(factory.made) <= index:
        await asyncio.sleep(0.005)
    await factory.made[index].made
    return factory.made[index]


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss(8) to read the backlog")
def test_backlog_reaches_listen(aloop):
    async def main():
        server = await aloop.create_server(Factory(aloop), "127.0.0.1", 0, backlog=7)
        port = server.sockets[0].getsockname()[1]
        out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True,
                             text=True, timeout=5).stdout.split()
        # State Recv-Q Send-Q Local Peer: for a listener, Send-Q is the backlog
        assert out[0] == "LISTEN" and out[2] == "7", out
        await close_server(server)

    run(aloop, main())


def test_sock_argument(aloop):
    async def main():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        addr = s.getsockname()
        f = Factory(aloop, echo=True)
        server = await aloop.create_server(f, sock=s)
        assert s.gettimeout() == 0  # made non-blocking
        assert server.sockets[0].getsockname() == addr
        assert await roundtrip(aloop, *addr) == b"ping"
        await drain_protocols(f)
        server.close()
        await server.wait_closed()
        assert s.fileno() == -1  # the server owned and closed it

    run(aloop, main())


def test_bad_arguments(aloop):
    async def main():
        f = Factory(aloop)
        with pytest.raises(ValueError):
            await aloop.create_server(f)  # neither host/port nor sock
        s = socket.socket()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            with pytest.raises(ValueError):
                await aloop.create_server(f, "127.0.0.1", 0, sock=s)
            with pytest.raises(ValueError):
                await aloop.create_server(f, sock=u)
        finally:
            s.close()
            u.close()
        with pytest.raises(ValueError):
            await aloop.create_server(f, "127.0.0.1", 0, ssl_handshake_timeout=1.0)
        with pytest.raises(TypeError):
            await aloop.create_server(f, "127.0.0.1", 0, ssl=True)
        with pytest.raises(OSError):
            await aloop.create_server(f, "127.0.0.1", 0, family=socket.AF_INET6)
        assert not f.made

    run(aloop, main())


# -- Server object --------------------------------------------------------------------------------


def test_start_serving_false_then_start_serving(aloop):
    async def main():
        f = Factory(aloop, echo=True)
        server = await aloop.create_server(f, "127.0.0.1", 0, start_serving=False)
        assert not server.is_serving()
        host, port = server.sockets[0].getsockname()
        early = socket.socket()
        early.setblocking(False)
        try:
            early.connect_ex((host, port))  # refused or queued: never served yet
            await asyncio.sleep(0.1)
            assert not f.made
            await server.start_serving()
            assert server.is_serving()
            await server.start_serving()  # a second call is harmless
            assert server.is_serving()
            assert await roundtrip(aloop, host, port) == b"ping"
        finally:
            early.close()
        await drain_protocols(f)
        await close_server(server)

    run(aloop, main())


def test_serve_forever(aloop):
    async def main():
        f = Factory(aloop, echo=True)
        server = await aloop.create_server(f, "127.0.0.1", 0, start_serving=False)
        host, port = server.sockets[0].getsockname()
        task = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0.01)
        assert server.is_serving()
        assert await roundtrip(aloop, host, port) == b"ping"
        with pytest.raises(RuntimeError):
            await server.serve_forever()  # already being awaited
        await drain_protocols(f)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not server.is_serving()
        assert server.sockets == ()
        with pytest.raises(RuntimeError):
            await server.serve_forever()  # closed
        assert await refused(host, port)

    run(aloop, main())


def test_close_ends_serve_forever(aloop):
    async def main():
        server = await aloop.create_server(Factory(aloop), "127.0.0.1", 0)
        task = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0.01)
        assert not task.done()
        server.close()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
        assert not server.is_serving()

    run(aloop, main())


def test_closed_socket_as_sock(aloop):
    async def main():
        s = socket.socket()
        s.close()
        with pytest.raises(OSError):
            await aloop.create_server(Factory(aloop), sock=s)
        with pytest.raises(OSError):
            await aloop.connect_accepted_socket(asyncio.Protocol, s)

    run(aloop, main())


def test_async_with_server(aloop):
    async def main():
        f = Factory(aloop, echo=True)
        server = await aloop.create_server(f, "127.0.0.1", 0)
        async with server as s:
            assert s is server
            host, port = server.sockets[0].getsockname()
            assert await roundtrip(aloop, host, port) == b"ping"
            await drain_protocols(f)
        assert not server.is_serving()
        assert server.sockets == ()
        assert await refused(host, port)

    run(aloop, main())


def test_close_keeps_connections_and_wait_closed(aloop):
    waits_for_clients = is_ioloop(aloop) or sys.version_info >= (3, 12, 1)

    async def main():
        f = Factory(aloop, echo=True)
        server = await aloop.create_server(f, "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()
        reader, writer = await asyncio.open_connection(host, port)
        await _first_made(f)
        server.close()
        # the open connection survives the listener
        writer.write(b"still")
        assert await reader.readexactly(5) == b"still"
        waiter = asyncio.ensure_future(server.wait_closed())
        await asyncio.sleep(0.05)
        if waits_for_clients:
            assert not waiter.done(), "wait_closed returned with a connection open"
        writer.close()
        await writer.wait_closed()
        await f.made[0].lost
        await asyncio.wait_for(waiter, 5)
        await server.wait_closed()  # again: returns at once

    run(aloop, main())


# -- close_clients / abort_clients (Python 3.13 API) ------------------------------------------


def _needs(server, name):
    """ioloop's Server has close_clients/abort_clients on every Python;
    stock asyncio's from 3.13 only (the asyncio run is skipped before)."""
    if not hasattr(server, name):
        pytest.skip(f"asyncio's Server.{name} is new in Python 3.13")


async def _listen(loop, kind, factory, sockdir):
    """A TCP or Unix server; returns it and a coroutine function that
    connects a client protocol to it."""
    if kind == "tcp":
        server, addr = await tcp_server(loop, factory)
        return server, lambda proto: loop.create_connection(lambda: proto, *addr)
    path = os.path.join(sockdir, "s")
    server = await loop.create_unix_server(factory, path)
    return server, lambda proto: loop.create_unix_connection(lambda: proto, path)


async def _busy_and_idle_clients(loop, kind, sockdir, data, api):
    """A server (TCP or Unix) with two clients: ``data`` backs up in the
    first one's server-side transport (that client does not read), the
    second one is idle. Skips unless the server has the method ``api``.
    Returns (factory, server, connect, [(server_proto, client_proto)] * 2)."""
    factory = Factory(loop)
    server, connect = await _listen(loop, kind, factory, sockdir)
    _needs(server, api)
    pairs = []
    for i in range(2):
        cp = Recorder(loop)
        await connect(cp)
        pairs.append((await _first_made(factory, i), cp))
    busy_sp, busy_cp = pairs[0]
    small_buffers(busy_sp.transport, busy_cp.transport)
    busy_cp.transport.pause_reading()
    busy_sp.transport.write(data)
    assert busy_sp.transport.get_write_buffer_size() > 0, "8 MiB should not fit the kernel buffers"
    return factory, server, connect, pairs


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_close_clients_flushes_and_leaves_the_listener(aloop, kind, sockdir):
    """close_clients() calls close() on every connection the server
    accepted: each flushes what it buffered, then connection_lost(None).
    The listening sockets are close()'s business: the server keeps serving
    and a client that connects afterwards stays open. After close(), a
    second close_clients() lets wait_closed() complete."""
    data = payload(8 * 1024 * 1024)

    async def main():
        f, server, connect, ((busy_sp, busy_cp), (idle_sp, idle_cp)) = \
            await _busy_and_idle_clients(aloop, kind, sockdir, data, "close_clients")
        server.close_clients()
        assert busy_sp.transport.is_closing() and idle_sp.transport.is_closing()
        assert await idle_sp.lost is None
        assert await idle_cp.lost is None
        assert idle_cp.events == ["made", "eof", ("lost", None)]
        await asyncio.sleep(0.05)
        assert not busy_sp.lost.done(), "connection_lost before the buffer was flushed"
        assert not busy_cp.eof.done()
        # the listener is untouched
        assert server.is_serving() and len(server.sockets) == 1
        late_cp = Recorder(aloop)
        await connect(late_cp)
        late_sp = await _first_made(f, 2)
        await asyncio.sleep(0.01)
        assert not late_sp.transport.is_closing() and not late_cp.eof.done()

        server.close()
        waiter = asyncio.ensure_future(server.wait_closed())
        await asyncio.sleep(0.05)
        assert not waiter.done(), "wait_closed returned with connections open"
        server.close_clients()
        assert late_sp.transport.is_closing()
        assert await late_cp.lost is None
        busy_cp.transport.resume_reading()
        await busy_cp.eof
        assert len(busy_cp.data) == len(data) and digest(busy_cp.data) == digest(data)
        assert await busy_sp.lost is None
        assert await busy_cp.lost is None
        await asyncio.wait_for(waiter, 5)
        assert [p.lost_count for p in f.made] == [1, 1, 1]
        assert [p.events[-1] for p in f.made] == [("lost", None)] * 3
        server.close_clients()  # nothing left: a no-op
        await server.wait_closed()

    run(aloop, main())


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_abort_clients_drops_buffered_data(aloop, kind, sockdir):
    """abort_clients() calls abort() on every connection the server
    accepted: connection_lost(None) comes without waiting for the peer to
    read, and what was buffered is dropped. After close(), wait_closed()
    completes with the slow client still not reading."""
    data = payload(8 * 1024 * 1024)

    async def main():
        f, server, connect, ((busy_sp, busy_cp), (idle_sp, idle_cp)) = \
            await _busy_and_idle_clients(aloop, kind, sockdir, data, "abort_clients")
        server.close()
        waiter = asyncio.ensure_future(server.wait_closed())
        await asyncio.sleep(0.01)
        assert not waiter.done()
        server.abort_clients()
        assert busy_sp.transport.is_closing() and idle_sp.transport.is_closing()
        assert busy_sp.transport.get_write_buffer_size() == 0
        assert await busy_sp.lost is None
        assert await idle_sp.lost is None
        await asyncio.wait_for(waiter, 5)
        assert not busy_cp.eof.done() and not busy_cp.lost.done()
        busy_cp.transport.resume_reading()
        exc = await busy_cp.lost
        assert exc is None or isinstance(exc, ConnectionError)
        assert len(busy_cp.data) < len(data)
        await idle_cp.lost
        assert [p.lost_count for p in f.made] == [1, 1]
        server.abort_clients()  # nothing left: a no-op
        await server.wait_closed()

    run(aloop, main())


def test_many_concurrent_clients(aloop):
    n = 50

    async def main():
        f = Factory(aloop, echo=True)
        server = await aloop.create_server(f, "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()

        async def client(i):
            msg = b"client %03d " % i * 100
            return await roundtrip(aloop, host, port, msg) == msg

        results = await asyncio.gather(*[client(i) for i in range(n)])
        assert all(results)
        assert len(f.made) == n
        await drain_protocols(f)
        await close_server(server)

    run(aloop, main(), timeout=30)


def test_protocol_factory_error_reported_and_server_survives(aloop):
    async def main():
        aloop.set_debug(True)  # asyncio reports a failed factory in debug mode only
        seen = handler_log(aloop)
        good = Factory(aloop, echo=True)
        calls = []

        def factory():
            calls.append(1)
            if len(calls) == 1:
                raise ZeroDivisionError("no protocol")
            return good()

        server = await aloop.create_server(factory, "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()
        reader, writer = await asyncio.open_connection(host, port)
        while not seen:
            await asyncio.sleep(0.005)
        assert len(seen) == 1 and isinstance(seen[0].get("exception"), ZeroDivisionError), seen
        if not is_ioloop(aloop):
            # asyncio does not close the accepted socket: the traceback in the
            # context holds it until it is dropped. ioloop closes it at once.
            seen.clear()
            gc.collect()
        assert await reader.read() == b""  # the failed connection is closed
        writer.close()
        await writer.wait_closed()
        assert await roundtrip(aloop, host, port) == b"ping"
        await drain_protocols(good)
        await close_server(server)

    run(aloop, main())


# -- Unix servers ---------------------------------------------------------------------------------


def test_unix_server_basics_and_cleanup(aloop, sockdir):
    # As the running Python's asyncio: 3.13 removes the socket file on
    # close() (cleanup_socket=True), earlier versions leave it.
    cleans_up = sys.version_info >= (3, 13)

    async def main():
        path = os.path.join(sockdir, "srv")
        f = Factory(aloop, echo=True)
        server = await aloop.create_unix_server(f, path)
        s = server.sockets[0]
        assert s.family == socket.AF_UNIX and s.getsockname() == path
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"unix")
        assert await reader.readexactly(4) == b"unix"
        writer.close()
        await writer.wait_closed()
        await drain_protocols(f)
        server.close()
        await server.wait_closed()
        assert os.path.exists(path) != cleans_up

    run(aloop, main())


def test_unix_server_replaces_stale_socket_and_refuses_files(aloop, sockdir):
    async def main():
        path = os.path.join(sockdir, "stale")
        old = socket.socket(socket.AF_UNIX)
        old.bind(path)
        old.close()  # leaves a stale socket file
        assert os.path.exists(path)
        from pathlib import Path
        server = await aloop.create_unix_server(Factory(aloop), Path(path))
        assert server.sockets[0].getsockname() == path
        server.close()
        await server.wait_closed()
        plain = os.path.join(sockdir, "plain")
        with open(plain, "w") as fobj:
            fobj.write("not a socket")
        with pytest.raises(OSError) as info:
            await aloop.create_unix_server(Factory(aloop), plain)
        assert info.value.errno == errno.EADDRINUSE
        with open(plain) as fobj:
            assert fobj.read() == "not a socket"

    run(aloop, main())


@pytest.mark.parametrize("cleanup", [True, False])
def test_unix_server_cleanup_socket_argument(aloop, sockdir, cleanup):
    """cleanup_socket decides, on every Python version for ioloop (asyncio
    takes the argument from 3.13)."""
    if not is_ioloop(aloop) and sys.version_info < (3, 13):
        pytest.skip("asyncio takes cleanup_socket from 3.13")

    async def main():
        path = os.path.join(sockdir, "srv")
        server = await aloop.create_unix_server(Factory(aloop), path, cleanup_socket=cleanup)
        server.close()
        await server.wait_closed()
        assert os.path.exists(path) != cleanup

    run(aloop, main())


def test_unix_server_leaves_a_replaced_path_alone(aloop, sockdir):
    if not is_ioloop(aloop) and sys.version_info < (3, 13):
        pytest.skip("asyncio cleans up Unix socket paths from 3.13")

    async def main():
        path = os.path.join(sockdir, "srv")
        server = await aloop.create_unix_server(Factory(aloop), path, cleanup_socket=True)
        os.unlink(path)
        with open(path, "w") as fobj:  # someone else's file now
            fobj.write("x")
        server.close()
        await server.wait_closed()
        assert os.path.exists(path)

    run(aloop, main())


def test_unix_server_sock_and_bad_arguments(aloop, sockdir):
    async def main():
        path = os.path.join(sockdir, "viasock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        f = Factory(aloop, echo=True)
        server = await aloop.create_unix_server(f, sock=s)
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"x")
        assert await reader.readexactly(1) == b"x"
        writer.close()
        await writer.wait_closed()
        await drain_protocols(f)
        server.close()
        await server.wait_closed()
        assert s.fileno() == -1
        with pytest.raises(ValueError):
            await aloop.create_unix_server(f)
        t = socket.socket()
        try:
            with pytest.raises(ValueError):
                await aloop.create_unix_server(f, sock=t)
        finally:
            t.close()
        u = socket.socket(socket.AF_UNIX)
        try:
            with pytest.raises(ValueError):
                await aloop.create_unix_server(f, os.path.join(sockdir, "p"), sock=u)
        finally:
            u.close()

    run(aloop, main())


def test_unix_server_abstract_namespace(aloop):
    async def main():
        name = "\0ioloop-test-%d-%d" % (os.getpid(), id(aloop))
        f = Factory(aloop, echo=True)
        server = await aloop.create_unix_server(f, name)
        reader, writer = await asyncio.open_unix_connection(name)
        writer.write(b"abs")
        assert await reader.readexactly(3) == b"abs"
        writer.close()
        await writer.wait_closed()
        await drain_protocols(f)
        await close_server(server)

    run(aloop, main())


# -- connect_accepted_socket ---------------------------------------------------------------------


def test_connect_accepted_socket(aloop):
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(5)
    lsock.setblocking(False)

    async def main():
        reader, writer = await asyncio.open_connection(*lsock.getsockname())
        conn, addr = await aloop.sock_accept(lsock)
        proto = Recorder(aloop, echo=True)
        tr, p = await aloop.connect_accepted_socket(lambda: proto, conn)
        assert p is proto and tr is proto.transport
        assert tr.get_extra_info("peername") == addr
        writer.write(b"accepted")
        assert await reader.readexactly(8) == b"accepted"
        writer.close()
        await writer.wait_closed()
        assert await proto.lost is None
        assert conn.fileno() == -1
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            with pytest.raises(ValueError):
                await aloop.connect_accepted_socket(asyncio.Protocol, u)
        finally:
            u.close()
        c = socket.socket()
        try:
            with pytest.raises(ValueError):
                await aloop.connect_accepted_socket(asyncio.Protocol, c,
                                                    ssl_handshake_timeout=1.0)
        finally:
            c.close()

    with lsock:
        run(aloop, main())


# -- accept() out of fds ----------------------------------------------------------------------------


def test_accept_emfile_backs_off_and_recovers(aloop):
    """accept() failing with EMFILE leaves the connection in the backlog and
    the listener readable: the loop must back off (not spin), report the
    error about once, and accept again once fds are free."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    fillers = []
    client = None

    async def main():
        nonlocal client
        seen = handler_log(aloop)
        f = Factory(aloop)
        server = await aloop.create_server(f, "127.0.0.1", 0)
        addr = server.sockets[0].getsockname()
        # completes in the kernel (backlog) while the loop is not running
        client = socket.create_connection(addr, timeout=5)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(open_fds()) + 16, hard))
        try:
            while True:
                fillers.append(os.open(os.devnull, os.O_RDONLY))
        except OSError as e:
            assert e.errno == errno.EMFILE
        t_cpu = time.process_time()
        t_wall = time.monotonic()
        await asyncio.sleep(0.5)
        cpu = time.process_time() - t_cpu
        wall = time.monotonic() - t_wall
        assert not f.made
        assert cpu < 0.5 * wall, f"loop spun: {cpu:.3f}s CPU in {wall:.3f}s"
        emfile = [c for c in seen
                  if isinstance(c.get("exception"), OSError)
                  and c["exception"].errno == errno.EMFILE]
        # ioloop reports once per back-off. asyncio (3.11) reports once per
        # accept attempt of the burst, up to `backlog` (100) times.
        assert 1 <= len(emfile) <= (2 if is_ioloop(aloop) else 100), seen
        assert len(seen) == len(emfile), seen
        while fillers:
            os.close(fillers.pop())
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        p = await asyncio.wait_for(_first_made(f), 5)
        client.sendall(b"after")
        while len(p.data) < 5:
            await asyncio.sleep(0.005)
        assert bytes(p.data) == b"after"
        client.close()
        await p.lost
        server.close()
        await server.wait_closed()

    try:
        run(aloop, main(), timeout=15)
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        if client is not None:
            client.close()
