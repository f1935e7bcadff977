"""ioloop's TLS layer (``ioloop._tls``): what it does where asyncio's own
TLS layer does something else, or differently on each Python version.

Behaviours (docs/behaviour.md, "TLS"): data received after our
close_notify is discarded; data that comes with the last handshake flight
waits until ``start_tls()`` has handed over the new transport; ``close()``
completes the TLS shutdown even while reading is paused, and discards
incoming data from then on; the peer's close_notify and a TCP EOF call
``eof_received()``, and a TCP EOF keeps what a paused reader has not read
yet; a buffered protocol is recognised by its ``get_buffer`` and gets at
most its buffer's length; callbacks the application causes (after
``resume_reading()``, from ``write()``) run in the transport's context;
``ssl_shutdown_timeout`` on every Python; a second ``close()`` lets go of
the TLS state; TLS inside TLS.

The peers that need exact control over TLS records run in a thread, on
``ssl.MemoryBIO``. Every test runs on ioloop only: stock asyncio fails
several of them on purpose.
"""

import asyncio
import contextvars
import gc
import socket
import threading
import weakref

import pytest

import ioloop
from ioloop import _engines
from netsupport import Lifecycle, Recorder, close_server, run

ssl = pytest.importorskip("ssl")

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.parametrize("aloop_kind", _engines.available())]

TIMEOUT = 10.0


class BioPeer:
    """The far end of a TLS connection, in a thread: TLS records by hand
    over a blocking socket, through ``ssl.MemoryBIO``."""

    def __init__(self, sock, ctx, server_side):
        sock.settimeout(TIMEOUT)
        self.sock = sock
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.sslobj = ctx.wrap_bio(self.incoming, self.outgoing, server_side=server_side)

    def flush(self):
        if self.outgoing.pending:
            self.sock.sendall(self.outgoing.read())

    def recv_more(self):
        data = self.sock.recv(65536)
        if not data:
            self.incoming.write_eof()
        self.incoming.write(data)
        return data

    def do(self, func, *args):
        """Calls ``func`` until it stops wanting to read; sends what it
        wrote."""
        while True:
            try:
                result = func(*args)
                break
            except ssl.SSLWantReadError:
                self.flush()
                if not self.recv_more():
                    raise ConnectionResetError("EOF from the loop's side") from None
        self.flush()
        return result

    def handshake(self):
        self.do(self.sslobj.do_handshake)

    def read(self, n):
        return self.do(self.sslobj.read, n)

    def read_exactly(self, n):
        data = b""
        while len(data) < n:
            chunk = self.read(n - len(data))
            if not chunk:
                raise ConnectionResetError("close_notify before the data")
            data += chunk
        return data

    def write(self, data):
        self.sslobj.write(data)
        self.flush()


class PeerThread:
    """Runs ``target(sock)`` in a thread on one connection; ``result()``
    re-raises its exception in the test."""

    def __init__(self, target, sock):
        self.error = None
        self.done = threading.Event()

        def main():
            try:
                target(sock)
            except BaseException as exc:  # reported by result()
                self.error = exc
            finally:
                sock.close()
                self.done.set()

        self.thread = threading.Thread(target=main, name="tls-peer", daemon=True)
        self.thread.start()

    async def wait(self):
        while not self.done.is_set():
            await asyncio.sleep(0.01)
        self.thread.join(TIMEOUT)
        if self.error is not None:
            raise self.error


def serve_one(target):
    """A loopback listener whose first connection ``target(sock)`` handles
    in a thread; returns (address, PeerThread-to-be future)."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.settimeout(TIMEOUT)
    holder = {}
    started = threading.Event()

    def accept():
        try:
            conn, _ = lsock.accept()
        finally:
            lsock.close()
        holder["peer"] = PeerThread(target, conn)
        started.set()

    threading.Thread(target=accept, name="tls-accept", daemon=True).start()

    async def peer():
        while not started.is_set():
            await asyncio.sleep(0.01)
        return holder["peer"]

    return lsock.getsockname(), peer


def insecure_client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# -- shutdown ------------------------------------------------------------------------------


def test_data_after_our_close_notify_is_discarded(aloop, server_ctx):
    """The peer sends application data after our close_notify, then its own:
    the shutdown completes cleanly (asyncio's layer raises
    APPLICATION_DATA_AFTER_CLOSE_NOTIFY from wait_closed())."""
    closed = threading.Event()

    def peer(sock):
        p = BioPeer(sock, server_ctx, server_side=True)
        p.handshake()
        assert p.read_exactly(4) == b"ping"
        p.write(b"pong")
        assert closed.wait(TIMEOUT)
        p.write(b"trailing")  # crosses our close_notify
        # Our close_notify, then ours in reply.
        assert p.do(p.sslobj.read, 1024) == b""
        p.do(p.sslobj.unwrap)

    async def main():
        addr, get_peer = serve_one(peer)
        reader, writer = await asyncio.open_connection(*addr, ssl=insecure_client_ctx())
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"pong"
        writer.close()
        aloop.call_soon(closed.set)
        await writer.wait_closed()
        await (await get_peer()).wait()

    run(aloop, main())


def test_close_while_reading_is_paused_completes_the_shutdown(aloop, server_ctx):
    """close() with reading paused and application data waiting still
    exchanges close_notify; the peer's calls eof_received(), then
    connection_lost(None). The waiting data is discarded."""

    def peer(sock):
        p = BioPeer(sock, server_ctx, server_side=True)
        p.handshake()
        p.write(b"trailing data")
        assert p.do(p.sslobj.read, 1024) == b""  # our close_notify
        p.do(p.sslobj.unwrap)
        assert sock.recv(1024) == b""  # and the loop closes the socket

    async def main():
        addr, get_peer = serve_one(peer)
        proto = Recorder(aloop)
        tr, _ = await aloop.create_connection(lambda: proto, *addr, ssl=insecure_client_ctx())
        tr.pause_reading()
        tr.close()
        assert tr.is_closing()
        await proto.eof
        assert await proto.lost is None
        assert proto.events == ["made", "eof", ("lost", None)]
        await (await get_peer()).wait()

    run(aloop, main())


def test_no_data_delivered_after_close(aloop, server_ctx, client_ctx):
    """From close() on, application data that arrives is discarded, even
    data already received while reading was paused (asyncio's layer still
    delivers it)."""
    sent = threading.Event()

    def peer(sock):
        with client_ctx.wrap_socket(sock, server_hostname="localhost") as s:
            s.sendall(b"hello")
            sent.set()
            s.unwrap()  # answers our close_notify

    async def main():
        proto = Recorder(aloop)
        server = await aloop.create_server(lambda: proto, "127.0.0.1", 0, ssl=server_ctx)
        addr = server.sockets[0].getsockname()
        sock = socket.create_connection(addr, timeout=TIMEOUT)
        thread = PeerThread(peer, sock)
        tr = await proto.made
        tr.pause_reading()
        while not sent.is_set():
            await asyncio.sleep(0.01)
        # Let the record reach the TLS layer (held there: reading is paused).
        for _ in range(100):
            if tr.get_read_buffer_size():
                break
            await asyncio.sleep(0.01)
        tr.close()
        tr.resume_reading()
        assert await proto.lost is None
        assert bytes(proto.data) == b""
        await thread.wait()
        await close_server(server)

    run(aloop, main())


def test_tcp_eof_keeps_data_for_a_paused_reader(aloop, server_ctx, client_ctx):
    """A TCP EOF without close_notify while reading is paused: the data
    received before it is delivered once reading resumes, then
    eof_received(), then connection_lost(None); no close_notify is sent."""
    eof_sent = threading.Event()

    def peer(sock):
        with server_ctx.wrap_socket(sock, server_side=True) as s:
            s.sendall(b"hello")
            assert s.recv(1024) == b"world"
            s.sendall(b"extra bytes")
            s.shutdown(socket.SHUT_WR)  # TCP EOF, no close_notify
            eof_sent.set()
            assert s.recv(1024) == b""  # (plain TCP now)

    class Proto(Recorder):
        def data_received(self, data):
            super().data_received(data)
            if data == b"hello":
                self.transport.write(b"world")
                self.transport.pause_reading()

    async def main():
        addr, get_peer = serve_one(peer)
        proto = Proto(aloop)
        tr, _ = await aloop.create_connection(lambda: proto, *addr, ssl=insecure_client_ctx())
        while not eof_sent.is_set():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # the EOF reaches the loop; nothing is lost meanwhile
        assert not proto.lost.done()
        assert bytes(proto.data) == b"hello"
        tr.resume_reading()
        assert await proto.lost is None
        assert bytes(proto.data) == b"helloextra bytes"
        assert proto.events == ["made", "data", "eof", ("lost", None)]
        await (await get_peer()).wait()

    run(aloop, main())


def test_tcp_eof_while_a_small_buffer_is_being_filled(aloop, server_ctx):
    """A TCP EOF arrives while data is still being handed, one byte at a
    time, to a buffered protocol with a 1-byte buffer: all of it arrives,
    then eof_received(), then connection_lost(None)."""
    payload = bytes(range(200))

    def peer(sock):
        p = BioPeer(sock, server_ctx, server_side=True)
        p.handshake()
        p.write(payload)
        sock.shutdown(socket.SHUT_WR)  # no close_notify
        assert sock.recv(1024) == b""

    async def main():
        addr, get_peer = serve_one(peer)
        proto = DuckBuffered(aloop, 1)
        await aloop.create_connection(lambda: proto, *addr, ssl=insecure_client_ctx())
        await proto.eof
        assert bytes(proto.data) == payload
        assert await proto.lost is None
        assert proto.sizes == {1}
        await (await get_peer()).wait()

    run(aloop, main())


def test_close_notify_calls_eof_received(aloop, server_ctx, client_ctx):
    """The peer's close_notify: eof_received() (its true return value only
    warns), then our close_notify in reply and connection_lost(None)."""

    def peer(sock):
        with client_ctx.wrap_socket(sock, server_hostname="localhost") as s:
            s.sendall(b"bye")
            s.unwrap()

    async def main():
        proto = Recorder(aloop, eof_result=False)
        server = await aloop.create_server(lambda: proto, "127.0.0.1", 0, ssl=server_ctx)
        sock = socket.create_connection(server.sockets[0].getsockname(), timeout=TIMEOUT)
        thread = PeerThread(peer, sock)
        assert await proto.lost is None
        assert proto.events == ["made", "data", "eof", ("lost", None)]
        assert bytes(proto.data) == b"bye"
        await thread.wait()
        await close_server(server)

    run(aloop, main())


def test_ssl_shutdown_timeout(aloop, server_ctx):
    """A peer that never answers our close_notify: the connection is
    dropped after ssl_shutdown_timeout, and connection_lost() gets
    asyncio.TimeoutError (on every Python, 3.10 included)."""
    release = threading.Event()

    def peer(sock):
        p = BioPeer(sock, server_ctx, server_side=True)
        p.handshake()
        release.wait(TIMEOUT)

    async def main():
        addr, get_peer = serve_one(peer)
        proto = Recorder(aloop)
        tr, _ = await aloop.create_connection(lambda: proto, *addr, ssl=insecure_client_ctx(),
                                              ssl_shutdown_timeout=0.2)
        tr.close()
        exc = await proto.lost
        release.set()
        assert isinstance(exc, asyncio.TimeoutError)
        await (await get_peer()).wait()

    run(aloop, main())


# -- start_tls -----------------------------------------------------------------------------


def test_start_tls_data_with_the_last_handshake_flight(aloop, server_ctx):
    """The client sends application data in the same segment as its last
    handshake message. The server upgrades with start_tls() from
    connection_made, driving the coroutine by hand: the data must reach
    data_received() only after start_tls() has returned the TLS transport,
    so that the echo goes out encrypted."""
    done = threading.Event()
    errors = []

    class EchoProto(asyncio.Protocol):
        def connection_made(self, tr):
            self.tr = tr
            coro = aloop.start_tls(tr, self, server_ctx, server_side=True,
                                   ssl_handshake_timeout=TIMEOUT)
            waiter = coro.send(None)

            def tls_started(_):
                try:
                    coro.send(None)
                except StopIteration as e:
                    self.tr = e.value

            waiter.add_done_callback(tls_started)

        def data_received(self, data):
            self.tr.write(data)  # whatever self.tr is by now

    def client(addr):
        try:
            sock = socket.create_connection(addr, timeout=TIMEOUT)
            with sock:
                p = BioPeer(sock, insecure_client_ctx(), server_side=False)
                while True:
                    try:
                        p.sslobj.do_handshake()
                        break
                    except ssl.SSLWantReadError:
                        p.flush()
                        p.recv_more()
                p.sslobj.write(b"hello")
                p.flush()  # the Finished message and the data together
                assert p.read_exactly(5) == b"hello"
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    async def main():
        proto = EchoProto()
        server = await aloop.create_server(lambda: proto, "127.0.0.1", 0)
        addr = server.sockets[0].getsockname()
        t = threading.Thread(target=client, args=(addr,), daemon=True)
        t.start()
        while not done.is_set():
            await asyncio.sleep(0.01)
        t.join(TIMEOUT)
        if errors:
            raise errors[0]
        proto.tr.close()
        await close_server(server)

    run(aloop, main())


class DuckBuffered(Lifecycle, asyncio.BaseProtocol):
    """A buffered protocol by duck typing (not an asyncio.BufferedProtocol),
    with a buffer of ``size`` bytes."""

    def __init__(self, loop, size):
        super().__init__(loop)
        self.buf = bytearray(size)
        self.data = bytearray()
        self.sizes = set()
        self.eof = loop.create_future()

    def get_buffer(self, sizehint):
        return self.buf

    def buffer_updated(self, nbytes):
        self.sizes.add(nbytes)
        self.data += self.buf[:nbytes]

    def eof_received(self):
        self.eof.set_result(None)


def test_buffered_protocol_by_duck_typing_and_buffer_size(aloop, server_ctx):
    """An application protocol with get_buffer() that is not an
    asyncio.Protocol is fed through its buffer, never more than the
    buffer's length at a time."""
    payload = bytes(range(256)) * 64

    def peer(sock):
        p = BioPeer(sock, server_ctx, server_side=True)
        p.handshake()
        p.write(payload)
        p.do(p.sslobj.unwrap)

    async def main():
        addr, get_peer = serve_one(peer)
        proto = DuckBuffered(aloop, 7)
        await aloop.create_connection(lambda: proto, *addr, ssl=insecure_client_ctx())
        await proto.eof
        assert await proto.lost is None
        assert bytes(proto.data) == payload
        assert max(proto.sizes) == 7
        await (await get_peer()).wait()

    run(aloop, main())


def test_start_tls_with_a_buffered_protocol_then_a_plain_one(aloop, server_ctx, client_ctx):
    """start_tls() with an asyncio.BufferedProtocol (1-byte buffer), then
    set_protocol() to an asyncio.Protocol: each is fed its own way."""

    def peer(sock):
        sock.settimeout(TIMEOUT)
        assert sock.recv(9) == b"STARTTLS\n"
        with server_ctx.wrap_socket(sock, server_side=True) as s:
            s.sendall(b"O")
            assert s.recv(1) == b"1"
            s.sendall(b"2")
            s.unwrap()

    class First(Lifecycle, asyncio.BufferedProtocol):
        def __init__(self, loop):
            super().__init__(loop)
            self.buf = bytearray(1)
            self.got = loop.create_future()

        def get_buffer(self, sizehint):
            return self.buf

        def buffer_updated(self, nbytes):
            assert nbytes == 1
            self.got.set_result(bytes(self.buf))

    async def main():
        addr, get_peer = serve_one(peer)
        first = First(aloop)
        tr, _ = await aloop.create_connection(lambda: first, *addr)
        tr.write(b"STARTTLS\n")
        new_tr = await aloop.start_tls(tr, first, client_ctx, server_hostname="localhost")
        assert await first.got == b"O"
        second = Recorder(aloop)
        second.transport = new_tr
        second.events.append("made")
        new_tr.set_protocol(second)
        assert new_tr.get_protocol() is second
        new_tr.write(b"1")
        await second.eof
        assert bytes(second.data) == b"2"
        assert await second.lost is None
        assert not first.lost.done()
        await (await get_peer()).wait()

    run(aloop, main())


def test_tls_inside_tls(aloop, server_ctx, client_ctx):
    """start_tls() on a TLS transport: a second TLS session inside the
    first."""

    def peer(sock):
        with server_ctx.wrap_socket(sock, server_side=True) as outer:
            inner = BioPeer(outer, server_ctx, server_side=True)
            inner.handshake()
            assert inner.read_exactly(5) == b"inner"
            inner.write(b"INNER")
            inner.do(inner.sslobj.unwrap)
            outer.unwrap()

    async def main():
        addr, get_peer = serve_one(peer)
        proto = Recorder(aloop)
        outer_tr, _ = await aloop.create_connection(lambda: proto, *addr, ssl=client_ctx,
                                                    server_hostname="localhost")
        inner_tr = await aloop.start_tls(outer_tr, proto, client_ctx,
                                         server_hostname="localhost")
        proto.transport = inner_tr
        assert inner_tr.get_extra_info("ssl_object") is not outer_tr.get_extra_info("ssl_object")
        inner_tr.write(b"inner")
        await proto.received(5)
        assert bytes(proto.data) == b"INNER"
        await proto.eof
        assert await proto.lost is None
        await (await get_peer()).wait()

    run(aloop, main())


# -- contexts ------------------------------------------------------------------------------


def test_callbacks_after_resume_reading_run_in_the_transport_context(aloop, server_ctx,
                                                                       client_ctx):
    """data_received() after resume_reading() runs in the context the TLS
    transport was created in, not the caller's (asyncio's layer uses the
    caller's); so do pause_writing()/resume_writing() caused by write()."""
    cvar = contextvars.ContextVar("cvar", default="outer")
    sent = threading.Event()

    def peer(sock):
        with client_ctx.wrap_socket(sock, server_hostname="localhost") as s:
            s.sendall(b"data")
            sent.set()
            assert s.recv(1) == b"x"
            s.unwrap()

    class Proto(Recorder):
        def __init__(self, loop):
            super().__init__(loop)
            self.contexts = []

        def data_received(self, data):
            self.contexts.append(("data", cvar.get()))
            super().data_received(data)

        def pause_writing(self):
            self.contexts.append(("pause", cvar.get()))

        def resume_writing(self):
            self.contexts.append(("resume", cvar.get()))

    async def main():
        cvar.set("inner")
        proto = Proto(aloop)
        server = await aloop.create_server(lambda: proto, "127.0.0.1", 0, ssl=server_ctx)
        sock = socket.create_connection(server.sockets[0].getsockname(), timeout=TIMEOUT)
        thread = PeerThread(peer, sock)
        tr = await proto.made
        tr.pause_reading()
        while not sent.is_set():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)

        def elsewhere():
            cvar.set("caller")
            tr.resume_reading()
            tr.set_write_buffer_limits(high=0)  # pause_writing() at once
            tr.write(b"x")

        contextvars.copy_context().run(elsewhere)
        await proto.received(4)
        assert await proto.lost is None
        assert ("data", "inner") in proto.contexts
        assert ("pause", "inner") in proto.contexts
        assert all(ctx == "inner" for _, ctx in proto.contexts), proto.contexts
        await thread.wait()
        await close_server(server)

    run(aloop, main())


# -- the transport -------------------------------------------------------------------------


def test_transport_interface(aloop, server_ctx, client_ctx):
    """asyncio's TLS transport interface: extra info, no write_eof, buffer
    limits, bad input named."""

    async def main():
        sp = Recorder(aloop, echo=True)
        server = await aloop.create_server(lambda: sp, "127.0.0.1", 0, ssl=server_ctx)
        host, port = server.sockets[0].getsockname()
        cp = Recorder(aloop)
        tr, _ = await aloop.create_connection(lambda: cp, host, port, ssl=client_ctx,
                                              server_hostname="localhost")
        assert isinstance(tr, asyncio.Transport)
        assert tr.get_extra_info("sslcontext") is client_ctx
        assert isinstance(tr.get_extra_info("ssl_object"), ssl.SSLObject)
        assert tr.get_extra_info("peercert")["subject"] == ((("commonName", "localhost"),),)
        assert tr.get_extra_info("cipher")[1].startswith("TLS")
        assert tr.get_extra_info("compression") is None
        assert tr.get_extra_info("peername") == (host, port)
        assert tr.get_extra_info("nothing", "default") == "default"
        assert not tr.can_write_eof()
        with pytest.raises(NotImplementedError):
            tr.write_eof()
        with pytest.raises(TypeError, match="str"):
            tr.write("text")
        with pytest.raises(ValueError):
            tr.set_write_buffer_limits(high=1, low=2)
        tr.set_write_buffer_limits(high=4096)
        assert tr.get_write_buffer_limits() == (1024, 4096)
        tr.set_read_buffer_limits(high=8192, low=1024)
        assert tr.get_read_buffer_limits() == (1024, 8192)
        assert tr.is_reading()
        tr.pause_reading()
        assert not tr.is_reading()
        tr.resume_reading()
        tr.writelines([b"a", bytearray(b"b"), memoryview(b"c")])
        await cp.received(3)
        assert bytes(cp.data) == b"abc"
        assert tr.get_write_buffer_size() == 0
        tr.close()
        assert tr.is_closing()
        assert await cp.lost is None
        tr.write(b"ignored")  # after close: dropped
        await close_server(server)

    run(aloop, main())


def test_handshake_timeout_argument_checked(aloop, client_ctx):
    async def main():
        for bad in (0, -1):
            with pytest.raises(ValueError, match="ssl_handshake_timeout"):
                await aloop.create_connection(asyncio.Protocol, "127.0.0.1", 1,
                                              ssl=client_ctx, ssl_handshake_timeout=bad)
        with pytest.raises(ValueError, match="ssl_shutdown_timeout"):
            await aloop.create_connection(asyncio.Protocol, "127.0.0.1", 1,
                                          ssl=client_ctx, ssl_shutdown_timeout=0)

    run(aloop, main())


def test_second_close_lets_go_of_the_tls_state(aloop, server_ctx, client_ctx):
    """An application that keeps its transport does not keep the SSL
    context alive once it closed the transport again after the end."""

    async def main():
        sp = Recorder(aloop)
        server = await aloop.create_server(lambda: sp, "127.0.0.1", 0, ssl=server_ctx)
        host, port = server.sockets[0].getsockname()
        ctx = ssl.create_default_context(cafile=None)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        cp = Recorder(aloop)
        tr, _ = await aloop.create_connection(lambda: cp, host, port, ssl=ctx)
        ref = weakref.ref(ctx)
        del ctx
        tr.close()
        await cp.lost
        tr.close()
        await close_server(server)
        return tr, ref

    tr, ref = run(aloop, main())
    gc.collect()
    assert ref() is None
    assert tr.is_closing() and tr.get_extra_info("sslcontext") is None
    tr.write(b"x")  # still a no-op
    assert tr.get_write_buffer_size() == 0


def test_tls_layer_is_ioloops_own(aloop, server_ctx, client_ctx):
    """The TLS transport is ioloop's, on every Python."""

    async def main():
        server = await aloop.create_server(lambda: Recorder(aloop), "127.0.0.1", 0,
                                           ssl=server_ctx)
        cp = Recorder(aloop)
        tr, _ = await aloop.create_connection(lambda: cp, *server.sockets[0].getsockname(),
                                              ssl=client_ctx, server_hostname="localhost")
        assert type(tr).__module__ == "ioloop._tls"
        tr.close()
        await cp.lost
        await close_server(server)

    assert isinstance(aloop, ioloop.IOLoop)
    run(aloop, main())
