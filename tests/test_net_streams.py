"""Stream transports of the asyncio face: Protocol and BufferedProtocol
lifecycles, the write path and flow control, reading control, connection
errors and bad input, and asyncio's streams on top.

Every test runs on ioloop's loop on each engine and on stock
``asyncio.new_event_loop()``. The asyncio run checks that the expectation
is asyncio's own behaviour; the ioloop run checks that ioloop matches it.
Loopback and Unix sockets only, each test bounded in time, no fd leaks.
"""

import asyncio
import logging
import os
import socket
import struct
import sys

import pytest

import ioloop

from netsupport import (HAS_IPV6, Lifecycle, Recorder, close_server, digest, handler_log,
                        is_ioloop, payload, run, slow_reader, small_buffers, tcp_listener,
                        tcp_server)

pytestmark = pytest.mark.timeout(60)


# -- helpers --------------------------------------------------------------------------------


async def connected(loop, kind, sockdir, server_proto, client_proto):
    """A server and a connected client transport (TCP or Unix); waits until
    the server side has its connection."""
    if kind == "tcp":
        server, addr = await tcp_server(loop, lambda: server_proto)
        tr, _ = await loop.create_connection(lambda: client_proto, *addr)
    else:
        path = os.path.join(sockdir, "s")
        server = await loop.create_unix_server(lambda: server_proto, path)
        tr, _ = await loop.create_unix_connection(lambda: client_proto, path)
    await server_proto.made
    return server, tr


async def half_close_and_finish(server, tr, sp, cp, expected):
    """The client half-closes; the server must have received exactly
    ``expected`` by its EOF; then both ends are lost and the server closed."""
    tr.write_eof()
    await sp.eof
    assert bytes(sp.data) == expected
    await sp.lost
    await cp.lost
    await close_server(server)


# -- lifecycle --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_lifecycle_order_and_once(aloop, kind, sockdir):
    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, kind, sockdir, sp, cp)
        assert cp.events == ["made"] and sp.events == ["made"]
        tr.write(b"hello ")
        tr.write(b"world")
        tr.write_eof()
        await sp.eof
        # eof_received returned None: the server transport closes itself.
        assert await sp.lost is None
        assert await cp.eof is None
        assert await cp.lost is None
        for _ in range(5):
            await asyncio.sleep(0.01)
        assert bytes(sp.data) == b"hello world"
        assert sp.events == ["made", "data", "eof", ("lost", None)]
        assert cp.events == ["made", "eof", ("lost", None)]
        assert sp.lost_count == 1 and cp.lost_count == 1
        assert sp.transport.is_closing() and tr.is_closing()
        await close_server(server)

    run(aloop, main())


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_close_is_not_synchronous_and_lost_once(aloop, kind, sockdir):
    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, kind, sockdir, sp, cp)
        assert not tr.is_closing()
        cp.in_close = True
        tr.close()
        cp.in_close = False
        assert tr.is_closing()
        assert not cp.lost.done()
        tr.close()  # second close: no second connection_lost
        assert await cp.lost is None
        await sp.lost
        for _ in range(5):
            await asyncio.sleep(0.01)
        assert cp.lost_count == 1
        assert cp.events == ["made", ("lost", None)]
        # the peer saw an orderly EOF
        assert sp.events == ["made", "eof", ("lost", None)]
        await close_server(server)

    run(aloop, main())


def test_abort_lost_once_and_abort_after_close(aloop, sockdir):
    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        cp.in_close = True
        tr.abort()
        cp.in_close = False
        assert tr.is_closing()
        tr.abort()
        tr.close()
        assert await cp.lost is None
        await sp.lost
        for _ in range(5):
            await asyncio.sleep(0.01)
        assert cp.lost_count == 1 and sp.lost_count == 1
        await close_server(server)

    run(aloop, main())


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_close_flushes_buffered_data(aloop, kind, sockdir):
    data = payload(8 * 1024 * 1024)

    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, kind, sockdir, sp, cp)
        small_buffers(tr, sp.transport)
        sp.transport.pause_reading()
        tr.write(data)
        assert tr.get_write_buffer_size() > 0, "8 MiB should not fit the kernel buffers"
        tr.close()
        assert tr.is_closing()
        await asyncio.sleep(0.05)
        assert not cp.lost.done(), "connection_lost before the buffer was flushed"
        sp.transport.resume_reading()
        assert await cp.lost is None
        await sp.eof
        assert len(sp.data) == len(data) and digest(sp.data) == digest(data)
        assert tr.get_write_buffer_size() == 0
        assert cp.lost_count == 1
        await sp.lost
        await close_server(server)

    run(aloop, main())


def test_abort_discards_buffered_data(aloop, sockdir):
    data = payload(8 * 1024 * 1024)

    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        small_buffers(tr, sp.transport)
        sp.transport.pause_reading()
        tr.write(data)
        assert tr.get_write_buffer_size() > 0
        tr.abort()
        assert await cp.lost is None
        sp.transport.resume_reading()
        exc = await sp.lost
        assert exc is None or isinstance(exc, ConnectionError)
        assert len(sp.data) < len(data)
        assert cp.lost_count == 1
        await close_server(server)

    run(aloop, main())


def test_get_extra_info_tcp(aloop, sockdir):
    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        saddr = server.sockets[0].getsockname()
        for t in (tr, sp.transport):
            sock = t.get_extra_info("socket")
            assert sock is not None
            assert sock.family == socket.AF_INET and sock.type == socket.SOCK_STREAM
            assert sock.fileno() >= 0
            assert t.get_extra_info("sockname") == sock.getsockname()
            assert t.get_extra_info("peername") == sock.getpeername()
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            assert t.get_extra_info("no-such-key") is None
            assert t.get_extra_info("no-such-key", "dflt") == "dflt"
        assert tr.get_extra_info("peername") == saddr
        assert sp.transport.get_extra_info("peername") == tr.get_extra_info("sockname")
        assert tr.get_protocol() is cp
        tr.close()
        sp.transport.close()
        await cp.lost
        await sp.lost
        await close_server(server)

    run(aloop, main())


def test_get_extra_info_unix(aloop, sockdir):
    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "unix", sockdir, sp, cp)
        path = os.path.join(sockdir, "s")
        sock = tr.get_extra_info("socket")
        assert sock.family == socket.AF_UNIX
        assert tr.get_extra_info("peername") == path
        assert sp.transport.get_extra_info("sockname") == path
        assert tr.get_extra_info("nope", 7) == 7
        tr.close()
        sp.transport.close()
        await cp.lost
        await sp.lost
        await close_server(server)

    run(aloop, main())


def test_set_protocol_switches_delivery(aloop, sockdir):
    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        other = Recorder(aloop)
        other.transport = sp.transport
        sp.transport.set_protocol(other)
        assert sp.transport.get_protocol() is other
        tr.write(b"to-other")
        await other.received(8)
        assert bytes(other.data) == b"to-other" and not sp.data
        tr.close()
        await other.lost
        assert not sp.lost.done()
        await close_server(server)

    run(aloop, main())


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_transports_are_asyncio_transports(aloop, kind, sockdir):
    """Both ends are asyncio.Transport instances (libraries and CPython's
    tests check it), connection_made gets the same object create_connection
    returns, and that object is not kept alive by the loop once closed."""
    import gc
    import weakref

    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, kind, sockdir, sp, cp)
        for t in (tr, sp.transport):
            assert isinstance(t, asyncio.Transport)
            assert isinstance(t, asyncio.ReadTransport) and isinstance(t, asyncio.WriteTransport)
        assert cp.transport is tr
        assert tr.get_protocol() is cp and sp.transport.get_protocol() is sp
        # The per-message methods answer on the object the protocol holds.
        tr.write(b"ab")
        tr.writelines([b"c", bytearray(b"d")])
        await sp.received(4)
        assert not tr.is_closing()
        tr.pause_reading()
        assert not tr.is_reading()
        tr.resume_reading()
        assert tr.is_reading()
        assert "closed" not in repr(tr)
        tr.close()
        await cp.lost
        await sp.lost
        await close_server(server)
        ref = weakref.ref(tr)
        cp.transport = sp.transport = None
        return ref

    ref = run(aloop, main())
    gc.collect()
    assert ref() is None


def test_extra_info_survives_close(aloop, sockdir):
    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        sockname, peername = tr.get_extra_info("sockname"), tr.get_extra_info("peername")
        tr.close()
        await cp.lost
        assert tr.get_extra_info("sockname") == sockname
        assert tr.get_extra_info("peername") == peername
        assert tr.get_extra_info("nope", 1) == 1
        await sp.lost
        await close_server(server)

    run(aloop, main())


def test_transport_fd_is_not_for_add_reader(aloop):
    lsock = tcp_listener()

    async def main():
        s = socket.socket()
        s.setblocking(False)
        try:
            await aloop.sock_connect(s, lsock.getsockname())
            conn, _ = await aloop.sock_accept(lsock)
        except BaseException:
            s.close()
            raise
        try:
            cp = Recorder(aloop)
            tr, _ = await aloop.create_connection(lambda: cp, sock=s)
            fd = s.fileno()
            for call in (lambda: aloop.add_reader(fd, print),
                         lambda: aloop.add_writer(fd, print),
                         lambda: aloop.remove_reader(fd),
                         lambda: aloop.remove_writer(fd)):
                with pytest.raises(RuntimeError):
                    call()
            # the transport still works
            await aloop.sock_sendall(conn, b"ok")
            await cp.received(2)
            tr.close()
            await cp.lost
            # once the transport is gone the fd number is free again
            r, w = socket.socketpair()
            try:
                assert aloop.add_reader(r.fileno(), print) is None
                assert aloop.remove_reader(r.fileno())
            finally:
                r.close()
                w.close()
        finally:
            conn.close()

    with lsock:
        run(aloop, main())


def test_lowering_high_water_pauses_at_once(aloop, sockdir):
    async def main():
        sp, cp = Recorder(aloop), FlowClient(aloop, [], 1024 * 1024, 0)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        small_buffers(tr, sp.transport)
        sp.transport.pause_reading()
        tr.write(payload(900 * 1024))
        assert tr.get_write_buffer_size() > 100 * 1024
        assert cp.flow == []  # under the 1 MiB mark
        tr.set_write_buffer_limits(high=100 * 1024, low=10 * 1024)
        assert [k for k, _ in cp.flow] == ["pause"]  # synchronously
        sp.transport.resume_reading()
        await sp.received(900 * 1024)
        await asyncio.sleep(0.01)
        assert [k for k, _ in cp.flow] == ["pause", "resume"]
        tr.close()
        await cp.lost
        await sp.lost
        await close_server(server)

    run(aloop, main())


# -- BufferedProtocol ---------------------------------------------------------------------


class BufRecorder(Lifecycle, asyncio.BufferedProtocol):
    def __init__(self, loop, bufsize=4096, mode="ok"):
        super().__init__(loop)
        self.buf = bytearray(bufsize)
        self.data = bytearray()
        self.mode = mode
        self.hints = []
        self.eof = loop.create_future()

    def get_buffer(self, sizehint):
        self.hints.append(sizehint)
        if self.mode == "empty":
            return bytearray()
        if self.mode == "raise":
            raise ZeroDivisionError("get_buffer failed")
        return self.buf

    def buffer_updated(self, nbytes):
        assert 0 < nbytes <= len(self.buf)
        if self.mode == "update_raise":
            raise KeyError("buffer_updated failed")
        self.data += self.buf[:nbytes]

    def eof_received(self):
        self.eof.set_result(None)


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_buffered_protocol_receives_everything(aloop, kind, sockdir):
    data = payload(2 * 1024 * 1024 + 123)

    async def main():
        sp, cp = BufRecorder(aloop, bufsize=1000), Recorder(aloop)
        server, tr = await connected(aloop, kind, sockdir, sp, cp)
        tr.write(data)
        tr.write_eof()
        await sp.eof
        assert await sp.lost is None
        assert digest(sp.data) == digest(data)
        assert all(isinstance(h, int) for h in sp.hints)
        tr.close()
        await cp.lost
        assert sp.lost_count == 1
        await close_server(server)

    run(aloop, main())


def _check_get_buffer_error(loop, exc, exc_type, from_get_buffer):
    """asyncio hands the error of get_buffer() (or the empty buffer's
    RuntimeError) to connection_lost as is; ioloop, like uvloop, hands over
    RuntimeError("unhandled error (or an empty buffer) in get_buffer()"),
    with the original error as its __cause__."""
    if from_get_buffer and is_ioloop(loop):
        assert type(exc) is RuntimeError, repr(exc)
        assert "unhandled error (or an empty buffer) in get_buffer()" in str(exc)
        assert isinstance(exc.__cause__, exc_type), repr(exc.__cause__)
    else:
        assert isinstance(exc, exc_type), repr(exc)


@pytest.mark.parametrize("mode,exc_type", [
    ("empty", RuntimeError), ("raise", ZeroDivisionError), ("update_raise", KeyError)])
def test_buffered_protocol_bad_buffer_is_fatal(aloop, sockdir, mode, exc_type):
    async def main():
        seen = handler_log(aloop)
        sp, cp = BufRecorder(aloop, mode=mode), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        tr.write(b"some data")
        exc = await sp.lost
        _check_get_buffer_error(aloop, exc, exc_type, mode != "update_raise")
        assert sp.transport.is_closing()
        # The peer's connection is gone too.
        await cp.lost
        assert len(seen) == 1, seen
        assert seen[0].get("exception") is exc
        assert seen[0].get("transport") is sp.transport
        assert sp.lost_count == 1
        await close_server(server)

    run(aloop, main())


def test_data_received_raising_is_fatal(aloop, sockdir):
    class Bad(Recorder):
        def data_received(self, data):
            raise ValueError("boom")

    async def main():
        seen = handler_log(aloop)
        sp, cp = Bad(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        tr.write(b"x")
        exc = await sp.lost
        assert isinstance(exc, ValueError)
        await cp.lost
        assert len(seen) == 1 and isinstance(seen[0]["exception"], ValueError)
        assert sp.lost_count == 1
        await close_server(server)

    run(aloop, main())


def test_buffered_protocol_readonly_buffer_is_fatal(aloop, sockdir):
    class ReadOnly(BufRecorder):
        def get_buffer(self, sizehint):
            return b"\0" * 64  # not writable

    async def main():
        seen = handler_log(aloop)
        sp, cp = ReadOnly(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        tr.write(b"into a read-only buffer")
        exc = await sp.lost
        _check_get_buffer_error(aloop, exc, TypeError, True)
        await cp.lost
        assert len(seen) == 1 and seen[0].get("exception") is exc, seen
        await close_server(server)

    run(aloop, main())


def test_buffered_protocol_buffer_views(aloop, sockdir):
    """get_buffer may hand out a slice of a bigger buffer: data lands there."""
    class Sliced(BufRecorder):
        def __init__(self, loop):
            super().__init__(loop)
            self.big = bytearray(b"." * 30)

        def get_buffer(self, sizehint):
            return memoryview(self.big)[10:15]

        def buffer_updated(self, nbytes):
            self.data += self.big[10:10 + nbytes]
            assert self.big[:10] == b"." * 10 and self.big[15:] == b"." * 15

    async def main():
        sp, cp = Sliced(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        tr.write(b"0123456789abcdefghij")
        await half_close_and_finish(server, tr, sp, cp, b"0123456789abcdefghij")

    run(aloop, main())


def test_switch_between_protocol_kinds(aloop, sockdir):
    """set_protocol() may swap a Protocol for a BufferedProtocol and back."""
    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        st = sp.transport
        tr.write(b"plain1")
        await sp.received(6)
        bp = BufRecorder(aloop, bufsize=3)
        st.set_protocol(bp)
        tr.write(b"buffered")
        while len(bp.data) < 8:
            await asyncio.sleep(0.005)
        assert bytes(bp.data) == b"buffered"
        back = Recorder(aloop)
        back.transport = st
        st.set_protocol(back)
        tr.write(b"plain2")
        tr.write_eof()
        await back.eof
        assert bytes(sp.data) == b"plain1" and bytes(back.data) == b"plain2"
        await back.lost
        assert not sp.lost.done() and not bp.lost.done()
        await cp.lost
        await close_server(server)

    run(aloop, main())


def test_eof_received_raising_is_fatal(aloop, sockdir):
    class Bad(Recorder):
        def eof_received(self):
            super().eof_received()
            raise KeyError("eof")

    async def main():
        seen = handler_log(aloop)
        sp, cp = Bad(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        tr.write_eof()
        exc = await sp.lost
        assert isinstance(exc, KeyError)
        assert len(seen) == 1 and isinstance(seen[0].get("exception"), KeyError)
        await cp.lost
        await close_server(server)

    run(aloop, main())


# -- write path -----------------------------------------------------------------------------


def test_write_order_writelines_and_types(aloop, sockdir):
    class Eager(Recorder):
        def connection_made(self, transport):
            super().connection_made(transport)
            transport.write(b"a")  # written from connection_made

    async def main():
        sp, cp = Recorder(aloop), Eager(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        tr.writelines([b"b", bytearray(b"c"), memoryview(b"xdx")[1:2]])
        tr.write(b"")
        tr.write(bytearray(b"e"))
        tr.write(memoryview(b"f"))
        tr.writelines([])
        tr.writelines(iter([b"g", b"h"]))
        with pytest.raises(TypeError):
            tr.write("text")
        with pytest.raises(TypeError):
            tr.write(123)
        with pytest.raises(TypeError):
            tr.writelines(["text"])
        tr.write(b"i")
        await half_close_and_finish(server, tr, sp, cp, b"abcdefghi")

    run(aloop, main())


def test_write_buffer_limits_api(aloop, sockdir):
    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        assert tr.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        tr.set_write_buffer_limits(high=1000)
        assert tr.get_write_buffer_limits() == (250, 1000)
        tr.set_write_buffer_limits(low=100)
        assert tr.get_write_buffer_limits() == (100, 400)
        tr.set_write_buffer_limits(high=10, low=0)
        assert tr.get_write_buffer_limits() == (0, 10)
        tr.set_write_buffer_limits(high=5, low=5)
        assert tr.get_write_buffer_limits() == (5, 5)
        with pytest.raises(ValueError):
            tr.set_write_buffer_limits(high=1, low=2)
        with pytest.raises(ValueError):
            tr.set_write_buffer_limits(high=-1)
        assert tr.get_write_buffer_size() == 0
        tr.close()
        await cp.lost
        await sp.lost
        await close_server(server)

    run(aloop, main())


class FlowClient(Recorder):
    def __init__(self, loop, chunks, high, low):
        super().__init__(loop)
        self.chunks = list(chunks)
        self.high, self.low = high, low
        self.flow = []
        self.done_writing = loop.create_future()

    def connection_made(self, transport):
        super().connection_made(transport)
        transport.set_write_buffer_limits(high=self.high, low=self.low)

    def pause_writing(self):
        self.flow.append(("pause", self.transport.get_write_buffer_size()))

    def resume_writing(self):
        self.flow.append(("resume", self.transport.get_write_buffer_size()))
        self.write_next()

    def write_next(self):
        if self.chunks:
            self.transport.write(self.chunks.pop(0))
        elif not self.done_writing.done():
            self.done_writing.set_result(None)


class SlowReader(Recorder):
    """Reads one chunk, then pauses reading for a millisecond."""

    def data_received(self, data):
        super().data_received(data)
        self.transport.pause_reading()
        self.loop.call_later(0.001, self._resume)

    def _resume(self):
        if not self.transport.is_closing():
            self.transport.resume_reading()


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_pause_resume_writing_pairs(aloop, kind, sockdir):
    high, low = 64 * 1024, 16 * 1024
    chunks = [payload(6 * 1024 * 1024) for _ in range(3)]
    whole = b"".join(chunks)

    async def main():
        sp, cp = SlowReader(aloop), FlowClient(aloop, chunks, high, low)
        server, tr = await connected(aloop, kind, sockdir, sp, cp)
        assert tr.get_write_buffer_limits() == (low, high)
        small_buffers(tr, sp.transport)
        sp.transport.pause_reading()  # the first chunk must back up
        cp.write_next()
        await asyncio.sleep(0.05)
        assert cp.flow and cp.flow[0][0] == "pause"
        assert tr.get_write_buffer_size() > high
        sp.transport.resume_reading()
        await cp.done_writing
        await sp.received(len(whole))
        assert digest(sp.data) == digest(whole)
        kinds = [k for k, _ in cp.flow]
        assert len(kinds) >= 2 * 3, cp.flow
        assert kinds == ["pause", "resume"] * (len(kinds) // 2), cp.flow
        for k, size in cp.flow:
            if k == "pause":
                assert size > high, cp.flow
            else:
                assert size <= low, cp.flow
        assert tr.get_write_buffer_size() == 0
        tr.close()
        await cp.lost
        await sp.lost
        await close_server(server)

    run(aloop, main())


@pytest.mark.parametrize("which", ["pause_writing", "resume_writing"])
def test_flow_control_callback_raising_is_reported(aloop, sockdir, which):
    class Raising(FlowClient):
        def pause_writing(self):
            super().pause_writing()
            if which == "pause_writing":
                raise ZeroDivisionError(which)

        def resume_writing(self):
            super().resume_writing()
            if which == "resume_writing":
                raise ZeroDivisionError(which)

    data = payload(2 * 1024 * 1024)

    async def main():
        seen = handler_log(aloop)
        sp, cp = Recorder(aloop), Raising(aloop, [], 64 * 1024, 16 * 1024)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        small_buffers(tr, sp.transport)
        tr.write(data)
        await sp.received(len(data))
        await asyncio.sleep(0.01)
        assert [k for k, _ in cp.flow] == ["pause", "resume"]
        assert len(seen) == 1, seen
        assert isinstance(seen[0].get("exception"), ZeroDivisionError)
        assert seen[0].get("transport") is tr and seen[0].get("protocol") is cp
        # the connection is fine
        assert not tr.is_closing()
        assert digest(sp.data) == digest(data)
        tr.close()
        await cp.lost
        await sp.lost
        await close_server(server)

    run(aloop, main())


def test_write_after_close_is_ignored_and_warned(aloop, sockdir, caplog):
    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        tr.write(b"before")
        await sp.received(6)
        tr.close()
        with caplog.at_level(logging.WARNING):
            for _ in range(10):
                tr.write(b"after")  # no exception
            await cp.lost
            for _ in range(3):
                tr.write(b"after")
        await sp.lost
        assert bytes(sp.data) == b"before"
        warned = [r for r in caplog.records if r.levelno == logging.WARNING
                  and r.name.split(".")[0] in ("asyncio", "ioloop")]
        assert 1 <= len(warned) <= 13
        await close_server(server)

    run(aloop, main())


def test_write_after_write_eof_raises(aloop, sockdir):
    async def main():
        sp, cp = Recorder(aloop, eof_result=True), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        assert tr.can_write_eof()
        tr.write_eof()
        tr.write_eof()  # idempotent
        with pytest.raises(RuntimeError):
            tr.write(b"x")
        await sp.eof
        sp.transport.close()
        await cp.lost
        await sp.lost
        await close_server(server)

    run(aloop, main())


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_half_close_peer_sees_eof_and_answers(aloop, kind, sockdir):
    class Answerer(Recorder):
        def eof_received(self):
            super().eof_received()
            self.transport.write(b"answer:" + bytes(self.data))
            return True  # keep the transport open

    async def main():
        sp, cp = Answerer(aloop), Recorder(aloop)
        server, tr = await connected(aloop, kind, sockdir, sp, cp)
        assert tr.can_write_eof() and sp.transport.can_write_eof()
        tr.write(b"question")
        tr.write_eof()
        await sp.eof
        await asyncio.sleep(0.05)
        assert not sp.transport.is_closing()
        assert not sp.lost.done()
        await cp.received(len(b"answer:question"))
        assert bytes(cp.data) == b"answer:question"
        sp.transport.write(b"!more")
        await cp.received(len(b"answer:question!more"))
        sp.transport.close()
        assert await cp.eof is None
        assert await cp.lost is None
        assert await sp.lost is None
        assert cp.events == ["made", "data", "eof", ("lost", None)]
        assert sp.events == ["made", "data", "eof", ("lost", None)]
        await close_server(server)

    run(aloop, main())


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_many_small_writes_while_blocked(aloop, kind, sockdir):
    """Thousands of buffered pieces (more than one sendmsg can take) go out
    complete and in order."""
    pieces = [(b"%06d," % i) * 4 for i in range(5000)]

    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, kind, sockdir, sp, cp)
        small_buffers(tr, sp.transport, 16 * 1024)
        sp.transport.pause_reading()
        for i, piece in enumerate(pieces):
            if i % 3 == 0:
                tr.write(bytearray(piece))
            elif i % 3 == 1:
                tr.write(memoryview(piece))
            else:
                tr.write(piece)
        tr.writelines([b"tail-", b"pieces"] * 600)
        assert tr.get_write_buffer_size() > 0
        sp.transport.resume_reading()
        await half_close_and_finish(server, tr, sp, cp, b"".join(pieces) + b"tail-pieces" * 600)

    run(aloop, main())


def test_large_write_after_peer_eof(aloop, sockdir):
    data = payload(4 * 1024 * 1024)

    class BigAnswer(Recorder):
        def eof_received(self):
            super().eof_received()
            self.transport.write(data)
            self.transport.close()
            return True

    async def main():
        sp, cp = BigAnswer(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        small_buffers(sp.transport, tr)
        tr.write_eof()
        await cp.eof
        assert digest(cp.data) == digest(data)
        assert await cp.lost is None
        assert await sp.lost is None
        await close_server(server)

    run(aloop, main())


# -- reading control ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_pause_resume_reading_idempotent(aloop, kind, sockdir):
    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, kind, sockdir, sp, cp)
        st = sp.transport
        assert st.is_reading()
        st.pause_reading()
        st.pause_reading()
        assert not st.is_reading()
        tr.write(b"held")
        await asyncio.sleep(0.1)
        assert not sp.data
        st.resume_reading()
        st.resume_reading()
        assert st.is_reading()
        await sp.received(4)
        assert bytes(sp.data) == b"held"
        # pause then EOF: the EOF waits too
        st.pause_reading()
        tr.write(b"more")
        tr.write_eof()
        await asyncio.sleep(0.1)
        assert not sp.eof.done() and bytes(sp.data) == b"held"
        st.resume_reading()
        await sp.eof
        assert bytes(sp.data) == b"heldmore"
        await sp.lost
        assert not st.is_reading()
        st.pause_reading()  # no error once closed
        st.resume_reading()
        assert not st.is_reading()
        await cp.lost
        await close_server(server)

    run(aloop, main())


def test_close_inside_data_received_stops_delivery(aloop, sockdir):
    class CloseOnData(Recorder):
        calls = 0

        def data_received(self, data):
            self.calls += 1
            super().data_received(data)
            self.transport.close()

    async def main():
        sp, cp = CloseOnData(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        sp.transport.pause_reading()
        for _ in range(50):
            tr.write(b"x" * 1000)
        await asyncio.sleep(0.05)  # all of it sits in the server's socket
        sp.transport.resume_reading()
        await sp.lost
        await asyncio.sleep(0.05)
        assert sp.calls == 1
        assert sp.events == ["made", "data", ("lost", None)]
        await cp.lost
        await close_server(server)

    run(aloop, main())


def test_pause_reading_inside_data_received_is_immediate(aloop, sockdir):
    class PauseOnData(Recorder):
        calls = 0

        def data_received(self, data):
            self.calls += 1
            super().data_received(data)
            self.transport.pause_reading()

    data = payload(1024 * 1024)

    async def main():
        sp, cp = PauseOnData(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        tr.write(data)
        await sp.received(1)
        await asyncio.sleep(0.1)
        assert sp.calls == 1 and len(sp.data) < len(data)
        while len(sp.data) < len(data):
            before = sp.calls
            sp.transport.resume_reading()
            await asyncio.sleep(0.002)
            assert sp.calls <= before + 1  # one delivery per resume
        assert digest(sp.data) == digest(data)
        tr.close()
        sp.transport.resume_reading()
        await sp.lost
        await cp.lost
        await close_server(server)

    run(aloop, main())


def test_abort_inside_data_received(aloop, sockdir):
    class AbortOnData(Recorder):
        def data_received(self, data):
            super().data_received(data)
            self.transport.abort()

    async def main():
        sp, cp = AbortOnData(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        tr.write(b"x" * 100000)
        assert await sp.lost is None
        exc = await cp.lost
        assert exc is None or isinstance(exc, ConnectionError)
        await asyncio.sleep(0.02)
        assert sp.lost_count == 1 and sp.events[-1] == ("lost", None)
        assert sp.events.count("data") == 1
        await close_server(server)

    run(aloop, main())


# -- errors -------------------------------------------------------------------------------------


@pytest.fixture
def refused_port():
    """A loopback port that refuses connections (bound, not listening)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    yield s.getsockname()[1]
    s.close()


def test_connection_refused(aloop, refused_port):
    async def main():
        with pytest.raises(ConnectionRefusedError):
            await aloop.create_connection(asyncio.Protocol, "127.0.0.1", refused_port)

    run(aloop, main())


def test_connection_refused_all_errors(aloop, refused_port):
    """all_errors=True: every connect error comes in an ExceptionGroup
    (asyncio: Python 3.12+; ioloop: 3.11+, the first Python with
    ExceptionGroup). Where it cannot be honoured, it is a TypeError naming
    the argument, never a NameError."""
    supported = sys.version_info >= (3, 12) or (
        sys.version_info >= (3, 11) and isinstance(aloop, ioloop.IOLoop))

    async def main():
        if supported:
            with pytest.raises(ExceptionGroup) as info:  # noqa: F821 (3.11+)
                await aloop.create_connection(asyncio.Protocol, "127.0.0.1", refused_port,
                                              all_errors=True)
            assert [type(e) for e in info.value.exceptions] == [ConnectionRefusedError]
        else:
            with pytest.raises(TypeError, match="all_errors"):
                await aloop.create_connection(asyncio.Protocol, "127.0.0.1", refused_port,
                                              all_errors=True)
        if isinstance(aloop, ioloop.IOLoop):  # asyncio < 3.12 has no all_errors at all
            with pytest.raises(ConnectionRefusedError):
                await aloop.create_connection(asyncio.Protocol, "127.0.0.1", refused_port,
                                              all_errors=False)

    run(aloop, main())


def test_connection_refused_unix(aloop, sockdir):
    path = os.path.join(sockdir, "nobody")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)  # bound, not listening

    async def main():
        with pytest.raises(ConnectionRefusedError):
            await aloop.create_unix_connection(asyncio.Protocol, path)
        with pytest.raises(FileNotFoundError):
            await aloop.create_unix_connection(asyncio.Protocol, path + "-missing")

    try:
        run(aloop, main())
    finally:
        s.close()


def test_reset_mid_write(aloop):
    lsock = tcp_listener()

    async def main():
        cp = Recorder(aloop)
        tr, _ = await aloop.create_connection(lambda: cp, *lsock.getsockname())
        conn, _ = await aloop.sock_accept(lsock)
        tr.write(payload(8 * 1024 * 1024))
        assert tr.get_write_buffer_size() > 0
        await asyncio.sleep(0.02)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        exc = await cp.lost
        assert isinstance(exc, (ConnectionResetError, BrokenPipeError)), repr(exc)
        await asyncio.sleep(0.02)
        assert cp.lost_count == 1
        assert tr.is_closing()
        tr.write(b"ignored")  # no exception after the connection is lost

    with lsock:
        run(aloop, main())


def test_reset_while_idle(aloop):
    lsock = tcp_listener()

    async def main():
        cp = Recorder(aloop)
        tr, _ = await aloop.create_connection(lambda: cp, *lsock.getsockname())
        conn, _ = await aloop.sock_accept(lsock)
        await asyncio.sleep(0.01)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        exc = await cp.lost
        assert isinstance(exc, ConnectionResetError), repr(exc)
        assert cp.events == ["made", ("lost", exc)]

    with lsock:
        run(aloop, main())


def test_blocked_writer_then_reader_closes(aloop):
    lsock = tcp_listener()

    async def main():
        cp = FlowClient(aloop, [], 64 * 1024, 16 * 1024)
        tr, _ = await aloop.create_connection(lambda: cp, *lsock.getsockname())
        conn, _ = await aloop.sock_accept(lsock)
        tr.write(payload(8 * 1024 * 1024))
        await asyncio.sleep(0.05)
        assert cp.flow and cp.flow[0][0] == "pause"
        # the reader closes with unread data: the kernel resets the connection
        conn.close()
        exc = await cp.lost
        assert isinstance(exc, (ConnectionResetError, BrokenPipeError)), repr(exc)
        await asyncio.sleep(0.02)
        assert cp.lost_count == 1

    with lsock:
        run(aloop, main())


def test_peer_closes_with_data_in_flight(aloop):
    lsock = tcp_listener()
    data = payload(4 * 1024 * 1024)

    async def main():
        cp = Recorder(aloop)
        tr, _ = await aloop.create_connection(lambda: cp, *lsock.getsockname())
        conn, _ = await aloop.sock_accept(lsock)
        tr.pause_reading()
        sender = asyncio.ensure_future(aloop.sock_sendall(conn, data))
        await asyncio.sleep(0.05)
        tr.resume_reading()
        await sender
        conn.close()  # everything sent is still delivered, then EOF
        await cp.eof
        assert await cp.lost is None
        assert digest(cp.data) == digest(data)
        assert cp.events == ["made", "data", "eof", ("lost", None)]

    with lsock:
        run(aloop, main())


def test_bad_arguments_create_connection(aloop, refused_port):
    async def main():
        cc = aloop.create_connection
        # address family that cannot resolve a numeric IPv4 host
        with pytest.raises(socket.gaierror):
            await cc(asyncio.Protocol, "127.0.0.1", refused_port, family=socket.AF_INET6)
        with pytest.raises(OSError):
            await cc(asyncio.Protocol, "127.0.0.1", refused_port, family=socket.AF_UNIX)
        with pytest.raises(ValueError):
            await cc(asyncio.Protocol)
        with pytest.raises(ValueError):
            await cc(asyncio.Protocol, "127.0.0.1", refused_port, ssl_handshake_timeout=1.0)
        with pytest.raises(ValueError):
            await cc(asyncio.Protocol, "127.0.0.1", refused_port, server_hostname="x")
        if sys.version_info >= (3, 11):
            with pytest.raises(ValueError):
                await cc(asyncio.Protocol, "127.0.0.1", refused_port,
                         ssl_shutdown_timeout=1.0)
        s = socket.socket()
        try:
            with pytest.raises(ValueError):
                await cc(asyncio.Protocol, "127.0.0.1", refused_port, sock=s)
            with pytest.raises(ValueError):
                await cc(asyncio.Protocol, host="127.0.0.1", sock=s)
            with pytest.raises(ValueError):
                await cc(asyncio.Protocol, port=refused_port, sock=s)
        finally:
            s.close()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            with pytest.raises(ValueError):
                await cc(asyncio.Protocol, sock=u)
        finally:
            u.close()
        # a closed socket passed as sock=
        c = socket.socket()
        c.close()
        with pytest.raises(OSError):
            await cc(asyncio.Protocol, sock=c)
        assert c.fileno() == -1

    run(aloop, main())


def test_create_connection_cancelled_mid_connect(aloop):
    """A create_connection cancelled while the connect is in progress
    closes its socket (no_fd_leak) and leaves nothing registered."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(0)
    addr = lst.getsockname()
    fillers = []

    async def main():
        # fill the accept queue: further SYNs are dropped, connects hang
        for _ in range(3):
            s = socket.socket()
            s.setblocking(False)
            fillers.append(s)
            s.connect_ex(addr)
        await asyncio.sleep(0.05)
        before = set(os.listdir("/proc/self/fd"))
        task = asyncio.ensure_future(aloop.create_connection(asyncio.Protocol, *addr))
        await asyncio.sleep(0.1)
        assert not task.done(), "connect completed: could not make it hang"
        opened = set(os.listdir("/proc/self/fd")) - before
        assert opened
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(3):
            await asyncio.sleep(0)
        for fd in opened:
            assert not os.path.exists(f"/proc/self/fd/{fd}"), "the socket was not closed"

    try:
        run(aloop, main())
    finally:
        for s in fillers:
            s.close()
        lst.close()


def test_create_connection_with_sock(aloop):
    lsock = tcp_listener()

    async def main():
        s = socket.socket()
        s.setblocking(False)
        await aloop.sock_connect(s, lsock.getsockname())
        conn, _ = await aloop.sock_accept(lsock)
        cp = Recorder(aloop)
        tr, proto = await aloop.create_connection(lambda: cp, sock=s)
        assert proto is cp and tr.get_extra_info("socket").fileno() == s.fileno()
        tr.write(b"via sock")
        got = b""
        while len(got) < 8:
            got += await aloop.sock_recv(conn, 100)
        assert got == b"via sock"
        conn.close()
        assert await cp.lost is None
        assert s.fileno() == -1  # the transport closed the socket it owned

    with lsock:
        run(aloop, main())


def test_create_connection_local_addr_and_ipv6(aloop):
    async def main():
        sp = Recorder(aloop)
        server, addr = await tcp_server(aloop, lambda: sp)
        cp = Recorder(aloop)
        tr, _ = await aloop.create_connection(lambda: cp, *addr, local_addr=("127.0.0.1", 0))
        assert tr.get_extra_info("sockname")[0] == "127.0.0.1"
        await sp.made
        tr.close()
        await cp.lost
        await sp.lost
        # a name through the resolver
        sp2, cp2 = Recorder(aloop), Recorder(aloop)
        server2, addr2 = await tcp_server(aloop, lambda: sp2)
        tr, _ = await aloop.create_connection(lambda: cp2, "localhost", addr2[1])
        await sp2.made
        tr.close()
        await cp2.lost
        await sp2.lost
        await close_server(server2)
        # a local address that cannot be bound
        with pytest.raises(OSError):
            await aloop.create_connection(asyncio.Protocol, *addr,
                                          local_addr=("192.0.2.1", 0))
        await close_server(server)

    run(aloop, main())


@pytest.mark.skipif(not HAS_IPV6, reason="no IPv6 loopback")
def test_ipv6_loopback(aloop):
    async def main():
        sp = Recorder(aloop)
        server, addr = await tcp_server(aloop, lambda: sp, host="::1")
        cp = Recorder(aloop)
        tr, _ = await aloop.create_connection(lambda: cp, "::1", addr[1])
        await sp.made
        assert tr.get_extra_info("socket").family == socket.AF_INET6
        assert tr.get_extra_info("peername")[:2] == ("::1", addr[1])
        tr.write(b"six")
        await half_close_and_finish(server, tr, sp, cp, b"six")

    run(aloop, main())


# -- asyncio streams on top -----------------------------------------------------------------------


def test_streams_echo_readline_readexactly(aloop):
    async def handle(reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                writer.write(line.upper())
                await writer.drain()
        finally:
            writer.close()
            await writer.wait_closed()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()[:2]
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"hello\nwor")
        writer.write(b"ld\n")
        await writer.drain()
        assert await reader.readline() == b"HELLO\n"
        assert await reader.readexactly(6) == b"WORLD\n"
        writer.write(b"partial")
        writer.write_eof()
        assert await reader.read() == b"PARTIAL"
        assert reader.at_eof()
        with pytest.raises(asyncio.IncompleteReadError):
            await reader.readexactly(1)
        writer.close()
        await writer.wait_closed()
        await close_server(server)

    run(aloop, main())


def test_streams_unix(aloop, sockdir):
    path = os.path.join(sockdir, "st")

    async def handle(reader, writer):
        data = await reader.readexactly(5)
        writer.write(data[::-1])
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main():
        server = await asyncio.start_unix_server(handle, path)
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"abcde")
        assert await reader.read() == b"edcba"
        writer.close()
        await writer.wait_closed()
        await close_server(server)

    run(aloop, main())


def test_streams_drain_under_backpressure(aloop):
    total = 16 * 1024 * 1024
    data = payload(total)
    received = bytearray()

    async def main():
        server = await asyncio.start_server(slow_reader(received), "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()[:2]
        reader, writer = await asyncio.open_connection(host, port)
        writer.transport.set_write_buffer_limits(high=128 * 1024)
        waited = 0
        view = memoryview(data)
        for i in range(0, total, 1024 * 1024):
            writer.write(view[i:i + 1024 * 1024])
            assert writer.transport.get_write_buffer_size() <= 1024 * 1024 + 128 * 1024 + 1
            size_before = writer.transport.get_write_buffer_size()
            await writer.drain()
            if size_before > 128 * 1024:
                waited += 1
                # drain returned once the buffer fell to the low mark
                assert writer.transport.get_write_buffer_size() <= 32 * 1024
        assert waited > 0
        writer.write_eof()
        assert await reader.read() == b""
        assert digest(received) == digest(data)
        writer.close()
        await writer.wait_closed()
        await close_server(server)

    run(aloop, main(), timeout=30)


# -- many connections, mixed operations --------------------------------------------------------


class Chaos(Recorder):
    """Server side of the mixed-operations test."""

    def __init__(self, loop, rng):
        super().__init__(loop)
        self.rng = rng
        self.chaotic = None
        self.client = None

    def data_received(self, data):
        super().data_received(data)
        if self.client is None:
            if len(self.data) < 5:
                return
            # the client's first 5 bytes: K or C (clean, chaotic) and its index
            self.chaotic = self.data[:1] == b"C"
            self.client = int(self.data[1:4])
        r = self.rng.random()
        if self.chaotic and r < 0.05:
            self.transport.abort()
        elif self.chaotic and r < 0.10:
            self.transport.close()
        elif r < 0.3:
            self.transport.write(data[:100])
        elif r < 0.4 and self.transport.is_reading():
            self.transport.pause_reading()
            self.loop.call_later(self.rng.random() * 0.003, self._resume)

    def _resume(self):
        if not self.transport.is_closing():
            self.transport.resume_reading()


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_many_connections_mixed_operations(aloop, kind, sockdir):
    import random

    n = 40

    async def main():
        rng = random.Random(1234)
        servers = []
        made = []

        def factory():
            p = Chaos(aloop, random.Random(len(made)))
            made.append(p)
            return p

        if kind == "tcp":
            server = await aloop.create_server(factory, "127.0.0.1", 0)
            addr = server.sockets[0].getsockname()

            def connect(p):
                return aloop.create_connection(lambda: p, *addr)
        else:
            path = os.path.join(sockdir, "mix")
            server = await aloop.create_unix_server(factory, path)

            def connect(p):
                return aloop.create_unix_connection(lambda: p, path)

        async def client(i):
            crng = random.Random(i + 1000)
            chaotic = i % 2 == 1
            p = Recorder(aloop)
            tr, _ = await connect(p)
            sent = bytearray(b"%c%03d|" % (b"C" if chaotic else b"K", i))
            tr.write(sent)
            for _ in range(crng.randrange(5, 40)):
                if tr.is_closing():
                    break
                r = crng.random()
                if r < 0.5:
                    chunk = os.urandom(crng.choice([1, 100, 5000, 70000, 300000]))
                    tr.write(chunk)
                    sent += chunk
                elif r < 0.6:
                    parts = [os.urandom(crng.randrange(1, 3000)) for _ in range(5)]
                    tr.writelines(parts)
                    sent += b"".join(parts)
                elif r < 0.7:
                    tr.pause_reading()
                    aloop.call_later(0.002, lambda: tr.is_closing() or tr.resume_reading())
                elif chaotic and r < 0.75:
                    tr.abort()
                    break
                await asyncio.sleep(crng.random() * 0.004)
            if not tr.is_closing():
                # a clean client half-closes and lets the server close (a
                # close() with echoes still unread would reset the connection)
                if chaotic and crng.random() < 0.5:
                    tr.close()
                else:
                    tr.write_eof()
            return p, tr, bytes(sent), chaotic

        results = await asyncio.gather(*[client(i) for i in range(n)])
        for p, tr, sent, chaotic in results:
            # the server closes once it sees EOF, so every client ends
            exc = await asyncio.wait_for(p.lost, 10)
            if not chaotic:
                assert exc is None, repr(exc)
            tr.close()
        # every server side ends as well
        for sp in made:
            await asyncio.wait_for(sp.lost, 10)
        await asyncio.sleep(0.02)
        assert len(made) == n
        for sp in made:
            assert sp.lost_count == 1
            assert sp.events[0] == "made" and sp.events[-1][0] == "lost"
        for (p, tr, sent, chaotic) in results:
            assert p.lost_count == 1
        # clean connections: the server got exactly what was sent
        checked = 0
        for sp in made:
            if sp.client is None:
                continue  # a chaotic client aborted before its marker went out
            p, tr, sent, chaotic = results[sp.client]
            assert sp.chaotic == chaotic
            if not chaotic:
                assert digest(sp.data) == digest(sent)
                assert "eof" in sp.events
                checked += 1
        assert checked == n // 2
        await close_server(server)

    run(aloop, main(), timeout=30)


# -- writes are queued and flushed once per iteration (uvloop's rule) -------------------------
#
# write() appends to the transport's buffer and the loop sends what is
# buffered at the end of the iteration, so several writes of one iteration
# go out together; a write that takes the buffer over the high-water mark
# is sent at once when nothing waits for the socket to become writable.
# Stock asyncio tries send() in write() itself: where the tests below look
# at the buffer right after write(), they check asyncio's own behaviour on
# its run.


def test_writes_are_queued_until_the_end_of_the_iteration(aloop, sockdir):
    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        tr.write(b"one ")
        tr.write(bytearray(b"two "))
        tr.writelines([b"three ", memoryview(b"four")])
        queued = 4 + 4 + 6 + 4
        assert tr.get_write_buffer_size() == (queued if is_ioloop(aloop) else 0)
        await asyncio.sleep(0)
        assert tr.get_write_buffer_size() == 0
        await sp.received(queued)
        assert bytes(sp.data) == b"one two three four"
        tr.close()
        await cp.lost
        await sp.lost
        await close_server(server)

    run(aloop, main())


def test_set_write_buffer_limits_under_queued_data_pauses(aloop, sockdir):
    """uvloop's test_flowcontrol_mixin_set_write_limits: lowering the limits
    under the queued bytes pauses the protocol, the flush resumes it."""
    async def main():
        sp, cp = Recorder(aloop), FlowClient(aloop, [], 64 * 1024, 16 * 1024)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        tr.write(b"q" * 512)
        if not is_ioloop(aloop):
            assert tr.get_write_buffer_size() == 0  # already sent
            tr.close()
        else:
            assert tr.get_write_buffer_size() == 512
            tr.set_write_buffer_limits(low=16385)
            assert tr.get_write_buffer_limits() == (16385, 65540)
            tr.set_write_buffer_limits(high=1024, low=128)
            assert cp.flow == []
            tr.set_write_buffer_limits(high=256, low=128)
            assert cp.flow == [("pause", 512)]
            await asyncio.sleep(0)
            assert cp.flow == [("pause", 512), ("resume", 0)]
            tr.close()
        await sp.received(512)
        await cp.lost
        await sp.lost
        await close_server(server)

    run(aloop, main())


def test_write_over_the_high_water_mark_goes_out_at_once(aloop, sockdir):
    async def main():
        sp, cp = Recorder(aloop), FlowClient(aloop, [], 4096, 1024)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        tr.write(b"a" * 1000)  # under the mark: queued on ioloop
        tr.write(b"b" * 5000)  # over it: everything goes now
        assert tr.get_write_buffer_size() == 0
        assert cp.flow == []
        await sp.received(6000)
        assert bytes(sp.data) == b"a" * 1000 + b"b" * 5000
        tr.close()
        await cp.lost
        await sp.lost
        await close_server(server)

    run(aloop, main())


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_close_sends_the_queued_writes_first(aloop, kind, sockdir):
    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, kind, sockdir, sp, cp)
        tr.write(b"queued ")
        tr.write(b"then closed")
        tr.close()
        tr.write(b" and more")  # still accepted while flushing, as asyncio
        assert await cp.lost is None
        await sp.eof
        assert bytes(sp.data) == b"queued then closed" + (
            b" and more" if is_ioloop(aloop) else b"")
        await sp.lost
        await close_server(server)

    run(aloop, main())


def test_abort_discards_the_queued_writes(aloop, sockdir):
    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        tr.write(b"never sent")
        tr.abort()
        assert tr.get_write_buffer_size() == 0
        assert await cp.lost is None
        await sp.lost
        assert bytes(sp.data) == (b"" if is_ioloop(aloop) else b"never sent")
        await close_server(server)

    run(aloop, main())


def test_write_eof_comes_after_the_queued_writes(aloop, sockdir):
    async def main():
        sp, cp = Recorder(aloop, eof_result=True), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        tr.write(b"before ")
        tr.writelines([b"the ", b"eof"])
        tr.write_eof()
        with pytest.raises(RuntimeError):
            tr.write(b"after")
        await sp.eof
        assert bytes(sp.data) == b"before the eof"
        sp.transport.write(b"answer")
        sp.transport.close()
        await cp.received(6)
        assert bytes(cp.data) == b"answer"
        await cp.lost
        await sp.lost
        await close_server(server)

    run(aloop, main())


def test_write_while_the_loop_is_not_running_goes_out_when_it_runs(aloop):
    lsock = tcp_listener()

    async def connect():
        cp = Recorder(aloop)
        tr, _ = await aloop.create_connection(lambda: cp, *lsock.getsockname())
        conn, _ = await aloop.sock_accept(lsock)
        return cp, tr, conn

    with lsock:
        cp, tr, conn = run(aloop, connect())
        with conn:
            tr.write(b"written between runs")

            async def receive():
                got = b""
                while len(got) < 20:
                    got += await aloop.sock_recv(conn, 100)
                return got

            assert run(aloop, receive()) == b"written between runs"
            tr.close()
            run(aloop, cp.lost)


def test_write_in_the_last_iteration_goes_out_before_the_loop_stops(aloop):
    """Written by the callback that stops the loop: flushed before
    run_forever() returns, so a blocking peer sees it."""
    lsock = tcp_listener()

    async def connect():
        cp = Recorder(aloop)
        tr, _ = await aloop.create_connection(lambda: cp, *lsock.getsockname())
        conn, _ = await aloop.sock_accept(lsock)
        return cp, tr, conn

    with lsock:
        cp, tr, conn = run(aloop, connect())
        with conn:
            def last():
                tr.write(b"last words")
                aloop.stop()

            aloop.call_soon(last)
            aloop.run_forever()
            conn.setblocking(True)
            conn.settimeout(5)
            got = b""
            while len(got) < 10:
                got += conn.recv(100)
            assert got == b"last words"
            tr.close()
            run(aloop, cp.lost)


def test_write_any_bytes_like_object(aloop, sockdir):
    """write() and writelines() take any C-contiguous bytes-like object, as
    uvloop's (stock asyncio's write() only bytes, bytearray and memoryview),
    and copy it: the caller may reuse its buffer at once."""
    import array
    import mmap

    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        words = array.array("H", [0x6261, 0x6463])  # b"abcd", little-endian
        region = mmap.mmap(-1, 3)
        region.write(b"efg")
        buf = bytearray(b"hij")
        if is_ioloop(aloop):
            tr.write(words)
            tr.write(region)
            tr.write(memoryview(b"xxklmxx")[2:5])
        else:
            with pytest.raises(TypeError, match="data argument must be a bytes-like object"):
                tr.write(words)
            tr.write(b"abcd")
            tr.write(bytes(region))
            tr.write(memoryview(b"xxklmxx")[2:5])
        tr.write(buf)
        buf[:] = b"---"
        tr.writelines([words, region, memoryview(b"2D").cast("B", (1, 2))])
        region.close()
        await sp.received(22)
        assert bytes(sp.data) == b"abcdefgklmhijabcdefg2D"
        tr.close()
        await cp.lost
        await sp.lost
        await close_server(server)

    if sys.byteorder != "little":
        pytest.skip("the array's bytes are little-endian")
    run(aloop, main())


def test_write_non_contiguous_memoryview_raises_type_error(aloop, sockdir):
    """A non-contiguous memoryview is refused by write() and writelines()
    with a TypeError naming the argument, before anything is buffered, as
    uvloop's write() refuses it (stock asyncio's send() fails on it later,
    with a fatal BufferError that closes the connection)."""
    if not is_ioloop(aloop):
        pytest.skip("asyncio: fatal BufferError")

    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        with pytest.raises(TypeError, match="data argument must be a C-contiguous"):
            tr.write(memoryview(b"abcdef")[::2])
        with pytest.raises(TypeError, match="data argument must be a C-contiguous"):
            tr.writelines([b"ok", memoryview(b"ghijkl")[::2]])
        with pytest.raises(TypeError, match="data argument must be a bytes-like object, not 'str'"):
            tr.writelines([b"ok", "text"])
        assert tr.get_write_buffer_size() == 0
        tr.write(b"still usable")
        await sp.received(12)
        assert bytes(sp.data) == b"still usable"
        tr.close()
        await cp.lost
        await sp.lost
        await close_server(server)

    run(aloop, main())


def test_write_and_writelines_with_empty_data(aloop, sockdir):
    """Empty data is accepted and sends nothing; the type is checked first
    and write_eof() still forbids it, as asyncio."""
    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        tr.write(b"")
        tr.write(bytearray())
        tr.write(memoryview(b""))
        tr.writelines([])
        tr.writelines([b"", bytearray()])
        tr.writelines(iter([]))
        assert tr.get_write_buffer_size() == 0
        with pytest.raises(TypeError, match="data argument must be a bytes-like object, not 'str'"):
            tr.write("")
        with pytest.raises(TypeError):
            tr.write(None)
        tr.write(b"x")
        tr.write_eof()
        with pytest.raises(RuntimeError, match="write_eof"):
            tr.write(b"")
        with pytest.raises(RuntimeError, match="write_eof"):
            tr.writelines([])
        await sp.eof
        assert bytes(sp.data) == b"x"
        tr.close()
        await cp.lost
        await sp.lost
        await close_server(server)

    run(aloop, main())


def test_write_from_data_received_is_sent_before_the_callbacks_it_schedules(aloop, sockdir):
    """What a protocol writes from data_received() is sent when it returns:
    a callback it schedules finds the buffer empty (asyncio sends in write()
    itself; uvloop after the I/O phase)."""
    class Echo(Recorder):
        def data_received(self, data):
            super().data_received(data)
            self.transport.write(data)
            self.loop.call_soon(lambda: self.sizes.append(self.transport.get_write_buffer_size()))

    async def main():
        sp, cp = Echo(aloop), Recorder(aloop)
        sp.sizes = []
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        tr.write(b"ping")
        await cp.received(4)
        assert bytes(cp.data) == b"ping"
        await asyncio.sleep(0)
        assert sp.sizes == [0]
        tr.close()
        await cp.lost
        await sp.lost
        await close_server(server)

    run(aloop, main())


def test_write_before_keyboard_interrupt_in_data_received_is_sent(aloop, sockdir):
    """data_received() writes, then KeyboardInterrupt escapes it (out of
    run_until_complete()): the written data is not lost, it goes out when
    the loop runs again."""
    class Interrupted(Recorder):
        def data_received(self, data):
            super().data_received(data)
            self.transport.write(b"reply")
            if len(self.data) == 4:
                raise KeyboardInterrupt

    sp, cp = Interrupted(aloop), Recorder(aloop)

    async def setup():
        return await connected(aloop, "tcp", sockdir, sp, cp)

    server, tr = run(aloop, setup())
    tr.write(b"ping")
    bound = aloop.call_later(30, aloop.stop)
    with pytest.raises(KeyboardInterrupt):
        aloop.run_forever()
    bound.cancel()

    async def finish():
        await cp.received(5)
        assert bytes(cp.data) == b"reply"
        tr.close()
        await cp.lost
        await sp.lost
        await close_server(server)

    run(aloop, finish())


# -- transport attributes, the socket, TCP_NODELAY ----------------------------------------


def test_private_state_attributes(aloop, sockdir):
    """_paused and _closing (and friends) read as on asyncio's transports
    and uvloop's; code in the wild reads them."""
    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        assert tr._paused is False and tr._closing is False
        tr.pause_reading()
        tr.pause_reading()
        assert tr._paused is True
        tr.resume_reading()
        assert tr._paused is False
        assert tr._protocol is cp and not tr._conn_lost and not tr._eof
        tr.write_eof()
        assert tr._eof
        tr.abort()
        assert tr._closing is True and tr._conn_lost
        await cp.lost
        await sp.lost
        await close_server(server)

    run(aloop, main())


def test_transport_socket_after_close_and_its_restrictions(aloop, sockdir):
    """get_extra_info("socket"): ioloop's socket wrapper refuses what would
    take the socket from its transport (uvloop's rules; asyncio's wrapper
    lets shutdown() through), and is gone once the transport let the socket
    go (uvloop returns None there, asyncio a closed wrapper)."""
    import pickle

    async def main():
        sp, cp = Recorder(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "unix", sockdir, sp, cp)
        sock = tr.get_extra_info("socket")
        assert isinstance(sock, asyncio.trsock.TransportSocket)
        assert sock is tr.get_extra_info("socket")
        assert sock.getsockname() == tr.get_extra_info("sockname")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        with pytest.raises(TypeError):
            pickle.dumps(sock)
        dup = sock.dup()
        dup.close()
        if is_ioloop(aloop):
            assert "AF_UNIX" in repr(sock)
            for name in ("accept", "connect", "bind", "listen", "close", "detach",
                         "shutdown", "send", "sendall", "sendto", "sendmsg", "recv",
                         "recv_into", "recvfrom", "recvmsg", "makefile", "sendfile"):
                with pytest.raises(TypeError, match=f"not support {name}\\(\\) method"):
                    getattr(sock, name)()
            with pytest.raises(TypeError):
                with sock:
                    pass
        tr.close()
        await cp.lost
        if is_ioloop(aloop):
            assert tr.get_extra_info("socket") is None
        else:
            assert tr.get_extra_info("socket").fileno() == -1
        await sp.lost
        await close_server(server)

    run(aloop, main())


def test_abort_in_connection_made_leaves_no_socket(aloop):
    class AbortAtOnce(Recorder):
        def connection_made(self, transport):
            super().connection_made(transport)
            transport.abort()

    lsock = tcp_listener()

    async def main():
        cp = AbortAtOnce(aloop)
        tr, _ = await aloop.create_connection(lambda: cp, *lsock.getsockname())
        assert await cp.lost is None
        sock = tr.get_extra_info("socket")
        if is_ioloop(aloop):
            assert sock is None
        else:
            assert sock.fileno() == -1
        tr.close()

    with lsock:
        run(aloop, main())


@pytest.mark.parametrize("side", ["client", "server"])
def test_tcp_nodelay_whatever_the_socket_proto(aloop, side):
    """TCP_NODELAY on every TCP transport, even when the socket was made
    as socket.socket() (proto 0) or accepted from one: uvloop sets it,
    asyncio only when sock.proto is IPPROTO_TCP."""
    async def main():
        lsock = socket.socket()  # proto 0
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        if side == "server":
            sp = Recorder(aloop)
            server = await aloop.create_server(lambda: sp, sock=lsock)
            with socket.create_connection(lsock.getsockname()):
                await sp.made
                tr = sp.transport
                nodelay = tr.get_extra_info("socket").getsockopt(
                    socket.IPPROTO_TCP, socket.TCP_NODELAY)
                tr.close()
                await sp.lost
            await close_server(server)
        else:
            with lsock:
                s = socket.socket()  # proto 0
                s.setblocking(False)
                await aloop.sock_connect(s, lsock.getsockname())
                conn, _ = lsock.accept()
                with conn:
                    cp = Recorder(aloop)
                    tr, _ = await aloop.create_connection(lambda: cp, sock=s)
                    nodelay = tr.get_extra_info("socket").getsockopt(
                        socket.IPPROTO_TCP, socket.TCP_NODELAY)
                    tr.close()
                    await cp.lost
        assert bool(nodelay) == is_ioloop(aloop)

    run(aloop, main())


# -- which protocols read through get_buffer ---------------------------------------------


class DuckBuffered(Lifecycle, asyncio.BaseProtocol):
    """A BaseProtocol with get_buffer/buffer_updated and no data_received."""

    def __init__(self, loop):
        super().__init__(loop)
        self.buf = bytearray(7)
        self.data = bytearray()
        self.eof = loop.create_future()

    def get_buffer(self, sizehint):
        return self.buf

    def buffer_updated(self, nbytes):
        self.data += self.buf[:nbytes]

    def eof_received(self):
        self.eof.set_result(None)


def test_protocol_with_get_buffer_reads_buffered(aloop, sockdir):
    """uvloop reads through get_buffer() for any protocol that has it (and
    is not an asyncio.Protocol); asyncio only for a BufferedProtocol, and
    calls the missing data_received (a fatal AttributeError)."""
    async def main():
        seen = handler_log(aloop)
        sp, cp = DuckBuffered(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        tr.write(b"through get_buffer")
        if is_ioloop(aloop):
            tr.write_eof()
            await sp.eof
            assert bytes(sp.data) == b"through get_buffer"
            assert await sp.lost is None
            assert not seen
        else:
            exc = await sp.lost
            assert isinstance(exc, AttributeError)
        tr.close()
        await cp.lost
        await close_server(server)

    run(aloop, main())


def test_protocol_without_data_received_is_connected_then_lost(aloop, sockdir):
    """A protocol that can neither take data nor a buffer gets
    connection_made, then connection_lost with the AttributeError when data
    arrives (as asyncio; the Cython engine used to refuse the connection
    before connection_made)."""
    class Mute(Lifecycle, asyncio.BaseProtocol):
        pass

    async def main():
        seen = handler_log(aloop)
        sp, cp = Mute(aloop), Recorder(aloop)
        server, tr = await connected(aloop, "tcp", sockdir, sp, cp)
        assert sp.transport is not None
        tr.write(b"x")
        exc = await sp.lost
        assert isinstance(exc, AttributeError) and "data_received" in str(exc)
        assert len(seen) == 1 and seen[0]["exception"] is exc
        await cp.lost
        await close_server(server)

    run(aloop, main())


def test_echo_written_in_the_stopping_poll_goes_out_before_the_loop_stops(aloop):
    """The loop's last poll (the one stop() ends with) may run
    data_received: what it writes is sent before run_until_complete()
    returns, as asyncio's immediate write would be."""
    lsock = tcp_listener()

    async def connect():
        cp = Recorder(aloop, echo=True)
        tr, _ = await aloop.create_connection(lambda: cp, *lsock.getsockname())
        conn, _ = await aloop.sock_accept(lsock)
        return cp, tr, conn

    with lsock:
        cp, tr, conn = run(aloop, connect())
        with conn:
            conn.setblocking(True)
            conn.settimeout(5)

            async def send():
                # Readable after this run's first poll: the data is read in
                # the last iteration's poll.
                conn.send(b"x")

            for i in range(1, 21):
                aloop.run_until_complete(send())
                assert conn.recv(16) == b"x", f"round {i}"
            tr.close()
            run(aloop, cp.lost)
