"""The low-level socket coroutines of the asyncio face: sock_recv,
sock_recv_into, sock_recvfrom, sock_recvfrom_into, sock_sendall,
sock_sendto, sock_accept, sock_connect, sock_sendfile and loop.sendfile:
argument checks, waiting for readiness, big payloads, errors, and
cancellation leaving no registration behind.

Every test runs on ioloop and on stock asyncio (the reference).
"""

import asyncio
import io
import os
import socket
import struct
import sys

import pytest

import ioloop

from netsupport import Recorder, digest, is_ioloop, run, settle

pytestmark = pytest.mark.timeout(60)


# -- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture
def socks():
    """Factory for sockets, all closed after the test."""
    made = []

    def make(*args, blocking=False):
        s = socket.socket(*args)
        s.setblocking(blocking)
        made.append(s)
        return s

    make.adopt = made.append
    yield make
    for s in made:
        s.close()


@pytest.fixture
def nbpair(socks):
    """A non-blocking socketpair (closed after the test)."""
    def make():
        a, b = socket.socketpair()
        for s in (a, b):
            s.setblocking(False)
            socks.adopt(s)
        return a, b
    return make


@pytest.fixture
def listener(socks):
    s = socks()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s


async def tcp_pair(loop, listener, socks):
    """A connected (client, server) pair of non-blocking TCP sockets."""
    c = socks()
    await loop.sock_connect(c, listener.getsockname())
    conn, _ = await loop.sock_accept(listener)
    socks.adopt(conn)
    return c, conn


async def recv_exactly(loop, sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = await loop.sock_recv(sock, min(n - len(buf), 256 * 1024))
        assert chunk, f"EOF after {len(buf)} of {n} bytes"
        buf += chunk
    return bytes(buf)


async def recv_all(loop, sock):
    buf = bytearray()
    while True:
        chunk = await loop.sock_recv(sock, 256 * 1024)
        if not chunk:
            return bytes(buf)
        buf += chunk


# -- argument checks ----------------------------------------------------------------------


def _blocking_calls(loop, tmp_path, blocking):
    tcp = blocking(socket.AF_INET, socket.SOCK_STREAM)
    udp = blocking(socket.AF_INET, socket.SOCK_DGRAM)
    lst = blocking(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    fpath = tmp_path / "f"
    fpath.write_bytes(b"x" * 10)
    fobj = open(fpath, "rb")
    blocking.adopt(fobj)  # closed after the test
    return {
        "sock_recv": lambda: loop.sock_recv(tcp, 1),
        "sock_recv_into": lambda: loop.sock_recv_into(tcp, bytearray(1)),
        "sock_recvfrom": lambda: loop.sock_recvfrom(udp, 1),
        "sock_recvfrom_into": lambda: loop.sock_recvfrom_into(udp, bytearray(1)),
        "sock_sendall": lambda: loop.sock_sendall(tcp, b"x"),
        "sock_sendto": lambda: loop.sock_sendto(udp, b"x", ("127.0.0.1", 9)),
        "sock_accept": lambda: loop.sock_accept(lst),
        "sock_connect": lambda: loop.sock_connect(tcp, lst.getsockname()),
        "sock_sendfile": lambda: loop.sock_sendfile(tcp, fobj),
    }


def _blocking_factory(socks):
    def make(*args):
        return socks(*args, blocking=True)
    make.adopt = socks.adopt
    return make


OPS = ["sock_recv", "sock_recv_into", "sock_recvfrom", "sock_recvfrom_into",
       "sock_sendall", "sock_sendto", "sock_accept", "sock_connect", "sock_sendfile"]


@pytest.mark.parametrize("op", OPS)
def test_blocking_socket_rejected(aloop, socks, tmp_path, op):
    if not hasattr(aloop, op):
        pytest.skip(f"asyncio on Python {sys.version_info[0]}.{sys.version_info[1]} has no "
                    f"{op} (3.11+)")
    # asyncio checks in debug mode only; ioloop always (see the next test)
    aloop.set_debug(True)
    calls = _blocking_calls(aloop, tmp_path, _blocking_factory(socks))

    async def main():
        with pytest.raises(ValueError):
            await calls[op]()

    run(aloop, main())


@pytest.mark.parametrize("op", OPS)
def test_blocking_socket_rejected_without_debug(aloop, socks, tmp_path, op):
    if not is_ioloop(aloop):
        pytest.skip("stock asyncio checks for a blocking socket in debug mode only")
    assert not aloop.get_debug()
    calls = _blocking_calls(aloop, tmp_path, _blocking_factory(socks))

    async def main():
        with pytest.raises(ValueError):
            await calls[op]()

    run(aloop, main())


def test_sock_sendfile_bad_arguments(aloop, socks, listener, tmp_path):
    fpath = tmp_path / "f"
    fpath.write_bytes(b"0123456789")

    async def main():
        c, conn = await tcp_pair(aloop, listener, socks)
        with open(fpath, "rb") as f:
            with pytest.raises(ValueError):
                await aloop.sock_sendfile(c, f, -1)
            with pytest.raises(ValueError):
                await aloop.sock_sendfile(c, f, 0, 0)
            with pytest.raises(TypeError):
                await aloop.sock_sendfile(c, f, 0, 1.5)
            with pytest.raises(TypeError):
                await aloop.sock_sendfile(c, f, "0")
            u = socks(socket.AF_INET, socket.SOCK_DGRAM)
            with pytest.raises(ValueError):
                await aloop.sock_sendfile(u, f)
        with open(fpath, "r") as tf:
            with pytest.raises(ValueError):
                await aloop.sock_sendfile(c, tf)
        c.close()
        assert await recv_all(aloop, conn) == b""  # nothing was sent

    run(aloop, main())


# -- receiving ------------------------------------------------------------------------------


def test_sock_recv_waits_for_data(aloop, nbpair):
    async def main():
        a, b = nbpair()
        task = asyncio.ensure_future(aloop.sock_recv(a, 100))
        await asyncio.sleep(0.05)
        assert not task.done()
        b.send(b"later")
        assert await task == b"later"
        # data already there: immediate
        b.send(b"now")
        await asyncio.sleep(0.01)
        assert await aloop.sock_recv(a, 100) == b"now"
        # n smaller than what is queued
        b.send(b"abcdef")
        assert await aloop.sock_recv(a, 2) == b"ab"
        assert await aloop.sock_recv(a, 100) == b"cdef"
        # EOF
        task = asyncio.ensure_future(aloop.sock_recv(a, 100))
        await asyncio.sleep(0.02)
        b.close()
        assert await task == b""

    run(aloop, main())


def test_sock_recv_into_waits_for_data(aloop, nbpair):
    async def main():
        a, b = nbpair()
        buf = bytearray(10)
        task = asyncio.ensure_future(aloop.sock_recv_into(a, buf))
        await asyncio.sleep(0.05)
        assert not task.done()
        b.send(b"hello")
        assert await task == 5
        assert buf[:5] == b"hello"
        mv = memoryview(buf)[2:4]
        b.send(b"XYZ")
        assert await aloop.sock_recv_into(a, mv) == 2
        assert bytes(buf[:5]) == b"heXYo"
        assert await aloop.sock_recv(a, 10) == b"Z"

    run(aloop, main())


def test_sock_recv_reports_errors(aloop, socks, listener):
    async def main():
        c, conn = await tcp_pair(aloop, listener, socks)
        task = asyncio.ensure_future(aloop.sock_recv(c, 100))
        await asyncio.sleep(0.02)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        with pytest.raises(ConnectionResetError):
            await task
        assert not aloop.remove_reader(c.fileno())

    run(aloop, main())


def test_udp_sendto_recvfrom(aloop, socks):
    if not hasattr(aloop, "sock_recvfrom"):
        pytest.skip(f"asyncio on Python {sys.version_info[0]}.{sys.version_info[1]} has no "
                    "sock_recvfrom/sock_sendto (3.11+)")
    async def main():
        r = socks(socket.AF_INET, socket.SOCK_DGRAM)
        r.bind(("127.0.0.1", 0))
        s = socks(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        task = asyncio.ensure_future(aloop.sock_recvfrom(r, 100))
        await asyncio.sleep(0.05)
        assert not task.done()
        assert await aloop.sock_sendto(s, b"dgram", r.getsockname()) == 5
        data, addr = await task
        assert data == b"dgram" and addr == s.getsockname()
        # a datagram is truncated to the buffer
        await aloop.sock_sendto(s, b"0123456789", r.getsockname())
        buf = bytearray(20)
        n, addr = await aloop.sock_recvfrom_into(r, buf, 4)
        assert n == 4 and bytes(buf[:4]) == b"0123" and addr == s.getsockname()
        await aloop.sock_sendto(s, b"", r.getsockname())
        assert await aloop.sock_recvfrom(r, 100) == (b"", s.getsockname())
        task = asyncio.ensure_future(aloop.sock_recvfrom_into(r, buf))
        await asyncio.sleep(0.02)
        assert not task.done()
        await aloop.sock_sendto(s, b"later", r.getsockname())
        assert await task == (5, s.getsockname())
        assert bytes(buf[:5]) == b"later"

    run(aloop, main())


# -- sending ----------------------------------------------------------------------------------


def test_sock_sendall_big_payload(aloop, socks, listener):
    data = os.urandom(16 * 1024 * 1024)

    async def main():
        c, conn = await tcp_pair(aloop, listener, socks)
        reader = asyncio.ensure_future(recv_exactly(aloop, conn, len(data)))
        assert await aloop.sock_sendall(c, data) is None
        got = await reader
        assert digest(got) == digest(data)
        assert await aloop.sock_sendall(c, b"") is None
        await aloop.sock_sendall(c, bytearray(b"ba"))
        await aloop.sock_sendall(c, memoryview(b"xmvx")[1:3])
        assert await recv_exactly(aloop, conn, 4) == b"bamv"
        assert not aloop.remove_writer(c.fileno())

    run(aloop, main(), timeout=30)


def test_sock_sendall_waits_for_a_slow_reader(aloop, socks, listener):
    data = os.urandom(4 * 1024 * 1024)

    async def main():
        c, conn = await tcp_pair(aloop, listener, socks)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        task = asyncio.ensure_future(aloop.sock_sendall(c, data))
        await asyncio.sleep(0.05)
        assert not task.done(), "4 MiB cannot fit 64 KiB kernel buffers"
        got = await recv_exactly(aloop, conn, len(data))
        await task
        assert digest(got) == digest(data)

    run(aloop, main())


def test_sock_sendall_to_a_reset_peer(aloop, socks, listener):
    async def main():
        c, conn = await tcp_pair(aloop, listener, socks)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        task = asyncio.ensure_future(aloop.sock_sendall(c, b"x" * (8 * 1024 * 1024)))
        await asyncio.sleep(0.05)
        assert not task.done()
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        with pytest.raises((ConnectionResetError, BrokenPipeError)):
            await task
        await settle()
        assert not aloop.remove_writer(c.fileno())

    run(aloop, main())


# -- connect and accept --------------------------------------------------------------------------


def test_sock_connect_and_accept(aloop, socks, listener):
    async def main():
        listener.setblocking(False)
        task = asyncio.ensure_future(aloop.sock_accept(listener))
        await asyncio.sleep(0.05)
        assert not task.done()
        c = socks()
        assert await aloop.sock_connect(c, listener.getsockname()) is None
        conn, addr = await task
        socks.adopt(conn)
        assert addr == c.getsockname()
        assert conn.gettimeout() == 0  # accepted sockets are non-blocking
        assert c.getpeername() == listener.getsockname()
        await aloop.sock_sendall(c, b"hi")
        assert await recv_exactly(aloop, conn, 2) == b"hi"

    run(aloop, main())


def test_sock_connect_unix(aloop, socks, tmp_path):
    path = str(tmp_path / "s")
    if len(path) > 100:
        import tempfile
        path = tempfile.mktemp(prefix="ioln-", dir="/tmp")

    async def main():
        lst = socks(socket.AF_UNIX)
        lst.bind(path)
        lst.listen(1)
        c = socks(socket.AF_UNIX)
        await aloop.sock_connect(c, path)
        conn, _ = await aloop.sock_accept(lst)
        socks.adopt(conn)
        await aloop.sock_sendall(conn, b"unix")
        assert await recv_exactly(aloop, c, 4) == b"unix"

    try:
        run(aloop, main())
    finally:
        if os.path.exists(path):
            os.unlink(path)


def test_sock_connect_refused(aloop, socks):
    async def main():
        dead = socks()
        dead.bind(("127.0.0.1", 0))  # bound, not listening
        c = socks()
        with pytest.raises(ConnectionRefusedError):
            await aloop.sock_connect(c, dead.getsockname())
        await settle()
        assert not aloop.remove_writer(c.fileno())

    run(aloop, main())


# -- cancellation ------------------------------------------------------------------------------


def test_cancel_sock_recv_leaves_nothing_behind(aloop, nbpair):
    async def main():
        a, b = nbpair()
        task = asyncio.ensure_future(aloop.sock_recv(a, 100))
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await settle()
        assert not aloop.remove_reader(a.fileno())
        # data sent now is not consumed by the cancelled call
        b.send(b"one")
        await asyncio.sleep(0.02)
        assert await aloop.sock_recv(a, 100) == b"one"
        # the fd is free for add_reader
        fired = aloop.create_future()
        aloop.add_reader(a.fileno(), lambda: fired.done() or fired.set_result(None))
        b.send(b"two")
        await asyncio.wait_for(fired, 5)
        assert aloop.remove_reader(a.fileno())
        assert a.recv(100) == b"two"

    run(aloop, main())


def test_cancel_sock_recv_into_then_close_and_reuse_fd(aloop, nbpair):
    """A cancelled sock_recv_into on a socket closed right after: a new
    socket that gets the same fd number is not disturbed."""
    async def main():
        a, b = nbpair()
        fd = a.fileno()
        task = asyncio.ensure_future(aloop.sock_recv_into(a, bytearray(10)))
        await asyncio.sleep(0.02)
        task.cancel()
        a.close()
        with pytest.raises(asyncio.CancelledError):
            await task
        c, d = nbpair()
        assert fd in (c.fileno(), d.fileno())
        mine = c if c.fileno() == fd else d
        other = d if mine is c else c
        other.send(b"fresh")
        assert await aloop.sock_recv(mine, 100) == b"fresh"
        assert not aloop.remove_reader(fd)

    run(aloop, main())


def test_cancel_sock_accept_leaves_nothing_behind(aloop, socks, listener):
    async def main():
        listener.setblocking(False)
        fd = listener.fileno()
        task = asyncio.ensure_future(aloop.sock_accept(listener))
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await settle()
        assert not aloop.remove_reader(fd)
        c = socks()
        await aloop.sock_connect(c, listener.getsockname())
        conn, addr = await aloop.sock_accept(listener)
        socks.adopt(conn)
        assert addr == c.getsockname()

    run(aloop, main())


def test_cancel_sock_connect_leaves_nothing_behind(aloop, socks):
    async def main():
        # a listener whose accept queue is full: further SYNs are dropped,
        # so a connect stays in progress
        lst = socks()
        lst.bind(("127.0.0.1", 0))
        lst.listen(0)
        addr = lst.getsockname()
        fillers = []
        for _ in range(3):
            s = socks()
            try:
                s.connect(addr)
            except BlockingIOError:
                pass
            fillers.append(s)
        await asyncio.sleep(0.05)
        c = socks()
        task = asyncio.ensure_future(aloop.sock_connect(c, addr))
        await asyncio.sleep(0.1)
        assert not task.done(), "connect completed: could not make it hang"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await settle()
        assert not aloop.remove_writer(c.fileno())
        fired = aloop.create_future()
        aloop.add_writer(c.fileno(), lambda: fired.done() or fired.set_result(None))
        aloop.remove_writer(c.fileno())

    run(aloop, main())


def test_cancel_sock_sendall_leaves_nothing_behind(aloop, socks, listener):
    async def main():
        c, conn = await tcp_pair(aloop, listener, socks)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        task = asyncio.ensure_future(aloop.sock_sendall(c, b"x" * (8 * 1024 * 1024)))
        await asyncio.sleep(0.05)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await settle()
        assert not aloop.remove_writer(c.fileno())
        # the socket stays usable: a later send goes out after what was sent
        reader = asyncio.ensure_future(recv_all(aloop, conn))
        await aloop.sock_sendall(c, b"END")
        c.shutdown(socket.SHUT_WR)
        got = await reader
        assert got.endswith(b"END")
        assert 3 < len(got) <= 8 * 1024 * 1024 + 3
        assert got[:-3] == b"x" * (len(got) - 3)

    run(aloop, main())


# -- sendfile ----------------------------------------------------------------------------------


@pytest.fixture
def datafile(tmp_path):
    content = os.urandom(1024 * 1024 + 17)
    p = tmp_path / "data.bin"
    p.write_bytes(content)
    return p, content


def test_sock_sendfile_regular_file(aloop, socks, listener, datafile):
    path, content = datafile

    async def main():
        c, conn = await tcp_pair(aloop, listener, socks)
        with open(path, "rb") as f:
            reader = asyncio.ensure_future(recv_exactly(aloop, conn, 5000))
            assert await aloop.sock_sendfile(c, f, 100, 5000) == 5000
            assert await reader == content[100:5100]
            assert f.tell() == 5100
            reader = asyncio.ensure_future(recv_exactly(aloop, conn, len(content)))
            assert await aloop.sock_sendfile(c, f) == len(content)
            assert digest(await reader) == digest(content)
            assert f.tell() == len(content)
            # a count past EOF sends what there is
            reader = asyncio.ensure_future(recv_exactly(aloop, conn, 17))
            assert await aloop.sock_sendfile(c, f, len(content) - 17, 1000) == 17
            assert await reader == content[-17:]
            # fallback=False on a regular file: the native path
            reader = asyncio.ensure_future(recv_exactly(aloop, conn, 10))
            assert await aloop.sock_sendfile(c, f, 7, 10, fallback=False) == 10
            assert await reader == content[7:17]

    run(aloop, main())


def test_sock_sendfile_fallback_for_non_regular_files(aloop, socks, listener):
    content = os.urandom(300 * 1024 + 5)

    async def main():
        c, conn = await tcp_pair(aloop, listener, socks)
        f = io.BytesIO(content)
        with pytest.raises(asyncio.SendfileNotAvailableError):
            await aloop.sock_sendfile(c, f, fallback=False)
        reader = asyncio.ensure_future(recv_exactly(aloop, conn, len(content) - 10))
        assert await aloop.sock_sendfile(c, f, 10) == len(content) - 10
        assert digest(await reader) == digest(content[10:])
        assert f.tell() == len(content)
        reader = asyncio.ensure_future(recv_exactly(aloop, conn, 1000))
        assert await aloop.sock_sendfile(c, f, 5, 1000) == 1000
        assert await reader == content[5:1005]
        assert f.tell() == 1005

    run(aloop, main())


@pytest.mark.parametrize("fileobj", ["regular", "bytesio"])
def test_loop_sendfile_over_a_transport(aloop, socks, listener, datafile, fileobj):
    path, content = datafile

    async def main():
        listener.setblocking(False)
        proto = Recorder(aloop)
        tr, _ = await aloop.create_connection(lambda: proto, *listener.getsockname())
        conn, _ = await aloop.sock_accept(listener)
        socks.adopt(conn)
        f = open(path, "rb") if fileobj == "regular" else io.BytesIO(content)
        with f:
            if fileobj == "bytesio":
                with pytest.raises(asyncio.SendfileNotAvailableError):
                    await aloop.sendfile(tr, f, fallback=False)
            tr.write(b"head:")
            n = await aloop.sendfile(tr, f, 1000, 200 * 1024)
            assert n == 200 * 1024
            assert f.tell() == 1000 + n
            tr.write(b":tail")
            expected = b"head:" + content[1000:1000 + n] + b":tail"
            got = await recv_exactly(aloop, conn, len(expected))
            assert digest(got) == digest(expected)
            assert tr.is_reading()  # reading is back on after sendfile
            await aloop.sock_sendall(conn, b"reply")
            while len(proto.data) < 5:
                await asyncio.sleep(0.005)
            assert bytes(proto.data) == b"reply"
            # whole file (asyncio's fallback reads from the current
            # position when offset is 0: rewind)
            f.seek(0)
            n = await aloop.sendfile(tr, f, 0)
            assert n == len(content)
            got = await recv_exactly(aloop, conn, n)
            assert digest(got) == digest(content)
        tr.close()
        assert await proto.lost is None
        assert await recv_all(aloop, conn) == b""

    run(aloop, main())


def test_loop_sendfile_bad_arguments(aloop, socks, listener, datafile):
    path, content = datafile

    async def main():
        listener.setblocking(False)
        proto = Recorder(aloop)
        tr, _ = await aloop.create_connection(lambda: proto, *listener.getsockname())
        conn, _ = await aloop.sock_accept(listener)
        socks.adopt(conn)
        with open(path, "rb") as f:
            with pytest.raises(ValueError):
                await aloop.sendfile(tr, f, -1)
            with pytest.raises(ValueError):
                await aloop.sendfile(tr, f, 0, 0)
            with pytest.raises(TypeError):
                await aloop.sendfile(tr, f, 0, "1")
            tr.close()
            with pytest.raises(RuntimeError):
                await aloop.sendfile(tr, f)
        await proto.lost

    run(aloop, main())


# -- name resolution -------------------------------------------------------------------------


GAI_CASES = [
    (("127.0.0.1", 80), {}),
    (("127.0.0.1", "80"), {"type": socket.SOCK_STREAM}),
    ((b"127.0.0.1", b"80"), {"type": socket.SOCK_DGRAM}),
    (("127.0.0.1", None), {"type": socket.SOCK_STREAM}),
    (("127.0.0.1", 0), {"type": socket.SOCK_STREAM, "proto": socket.IPPROTO_TCP}),
    (("127.0.0.1", 0), {"type": socket.SOCK_STREAM, "proto": socket.IPPROTO_UDP}),
    (("127.0.0.1", 53), {"type": socket.SOCK_RAW}),
    (("127.0.0.1", "http"), {"type": socket.SOCK_STREAM}),
    (("127.0.0.1", 80), {"family": socket.AF_INET6, "type": socket.SOCK_STREAM}),
    (("127.0.0.1", 80), {"family": socket.AF_INET, "type": socket.SOCK_STREAM,
                         "flags": socket.AI_CANONNAME}),
    (("127.1", 80), {"type": socket.SOCK_STREAM}),
    (("0", 80), {"type": socket.SOCK_STREAM}),
    (("::1", 443), {"family": socket.AF_INET6, "type": socket.SOCK_DGRAM}),
    (("::1", 443), {"type": socket.SOCK_STREAM}),
    (("::ffff:127.0.0.1", 1), {"type": socket.SOCK_STREAM}),
    (("::1", 80), {"family": socket.AF_INET, "type": socket.SOCK_STREAM}),
    ((None, 8080), {"type": socket.SOCK_STREAM}),
    ((None, 0), {"type": socket.SOCK_STREAM, "flags": socket.AI_PASSIVE}),
    (("localhost", 80), {"type": socket.SOCK_STREAM}),
    (("127.0.0.1", 99999), {"type": socket.SOCK_STREAM}),
    (("127.0.0.1", "no-such-service-x"), {"type": socket.SOCK_STREAM}),
]


def _outcome(fn):
    try:
        return ("ok", fn())
    except Exception as e:  # the exception type and errno are the outcome
        return ("error", type(e), getattr(e, "errno", None))


def test_getaddrinfo_matches_the_socket_module(aloop):
    expected = [_outcome(lambda: socket.getaddrinfo(*args, **kw)) for args, kw in GAI_CASES]

    async def main():
        got = []
        for args, kw in GAI_CASES:
            try:
                got.append(("ok", await aloop.getaddrinfo(*args, **kw)))
            except Exception as e:
                got.append(("error", type(e), getattr(e, "errno", None)))
        for (args, kw), e, g in zip(GAI_CASES, expected, got):
            assert g == e, (args, kw)

    run(aloop, main())


def test_numeric_getaddrinfo_needs_no_thread(aloop):
    if not is_ioloop(aloop):
        pytest.skip("asyncio resolves every host in the executor")
    import threading

    async def main():
        before = set(threading.enumerate())
        await aloop.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)
        await aloop.getaddrinfo("::1", 80, type=socket.SOCK_DGRAM)
        # and the connection paths that use it
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        try:
            tr, _ = await aloop.create_connection(asyncio.Protocol, *lst.getsockname())
            tr.close()
        finally:
            lst.close()
        assert set(threading.enumerate()) == before

    run(aloop, main())


def test_getnameinfo(aloop):
    async def main():
        flags = socket.NI_NUMERICHOST | socket.NI_NUMERICSERV
        assert await aloop.getnameinfo(("127.0.0.1", 80), flags) == ("127.0.0.1", "80")
        assert await aloop.getnameinfo(("127.0.0.1", 80)) == \
            socket.getnameinfo(("127.0.0.1", 80), 0)

    run(aloop, main())


def test_socket_closed_under_a_pending_sock_recv(aloop, nbpair):
    """sock.close() while a sock_recv waits on the socket only marks it
    closed (uvloop's rule): the fd stays open until the call ends, the call
    still gets its data, then the socket is really closed. A cancelled call
    lets the fd go the same way, and a new socket that gets the number
    works. Stock asyncio closes the fd under the call, which then never
    completes (and with the number reused, CPython gh-88968)."""
    if not is_ioloop(aloop):
        pytest.skip("stock asyncio closes the fd under the pending call")

    async def main():
        a, b = nbpair()
        fd = a.fileno()
        old = asyncio.ensure_future(aloop.sock_recv(a, 100))
        await asyncio.sleep(0.02)
        a.close()
        assert a.fileno() == fd  # deferred
        b.send(b"still there")
        assert await asyncio.wait_for(old, 5) == b"still there"
        assert a.fileno() == -1  # closed once the call ended
        assert not aloop.remove_reader(fd)

        c, d = nbpair()
        fd2 = c.fileno()
        pending = asyncio.ensure_future(aloop.sock_recv(c, 100))
        await asyncio.sleep(0.02)
        c.close()
        assert c.fileno() == fd2
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        assert c.fileno() == -1
        assert not aloop.remove_reader(fd2)
        e, f = nbpair()
        task = asyncio.ensure_future(aloop.sock_recv(e, 100))
        await asyncio.sleep(0.02)
        f.send(b"new socket")
        assert await asyncio.wait_for(task, 5) == b"new socket"

    run(aloop, main())


def test_socket_closed_under_pending_sock_connect_and_sendall(aloop, socks, listener):
    """sock_connect and sock_sendall also hold the socket open: a close()
    while they wait takes effect when they are done, and they complete."""
    if not is_ioloop(aloop):
        pytest.skip("stock asyncio closes the fd under the pending call")

    async def main():
        s = socks()
        s.setblocking(False)
        connecting = asyncio.ensure_future(aloop.sock_connect(s, listener.getsockname()))
        aloop.call_soon(s.close)
        await asyncio.wait_for(connecting, 5)
        assert s.fileno() == -1
        conn, _ = listener.accept()
        with conn:
            assert conn.recv(10) == b""  # the connection was made, then closed

        c = socks()
        c.setblocking(False)
        await aloop.sock_connect(c, listener.getsockname())
        conn, _ = listener.accept()
        conn.setblocking(False)
        socks.adopt(conn)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        data = os.urandom(4 * 1024 * 1024)
        sending = asyncio.ensure_future(aloop.sock_sendall(c, data))
        await asyncio.sleep(0.02)
        assert not sending.done()
        fd = c.fileno()
        c.close()
        assert c.fileno() == fd
        got = bytearray()
        while len(got) < len(data):
            got += await aloop.sock_recv(conn, 1024 * 1024)
        await asyncio.wait_for(sending, 5)
        assert bytes(got) == data
        assert c.fileno() == -1

    run(aloop, main())


def test_loop_close_lets_go_of_sockets_held_by_pending_calls(make_loop, nbpair):
    """A sock_recv left pending when the loop closes: a close() of its
    socket was deferred, loop.close() completes it (uvloop's rule)."""
    loop = make_loop()
    try:
        a, b = nbpair()

        async def main():
            asyncio.ensure_future(loop.sock_recv(a, 10))
            await asyncio.sleep(0.02)

        loop.run_until_complete(main())
        fd = a.fileno()
        a.close()
        assert a.fileno() == fd  # the pending call still holds it
    finally:
        for task in asyncio.all_tasks(loop):
            task._log_destroy_pending = False
        loop.close()
    assert a.fileno() == -1


def test_sock_connect_udp(aloop, socks):
    async def main():
        r = socks(socket.AF_INET, socket.SOCK_DGRAM)
        r.bind(("127.0.0.1", 0))
        s = socks(socket.AF_INET, socket.SOCK_DGRAM)
        await aloop.sock_connect(s, r.getsockname())
        assert s.getpeername() == r.getsockname()
        await aloop.sock_sendall(s, b"connected udp")
        assert await aloop.sock_recv(r, 100) == b"connected udp"

    run(aloop, main())
