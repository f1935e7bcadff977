"""Which contextvars context a transport's protocol callbacks run in.

ioloop follows uvloop here: every protocol callback (connection_made,
data_received, get_buffer/buffer_updated, eof_received, pause_writing,
resume_writing, connection_lost, datagram_received, error_received, the
pipe and subprocess protocol callbacks) runs in the context captured when
the transport was made, whoever triggered it. Stock asyncio runs
connection_lost in the context of whoever called close(), and a read
resumed by resume_reading() in the context of its caller; those cases are
checked on ioloop only. Both engines; loopback, pipes and a short Python
child only.
"""

import asyncio
import contextvars
import os
import socket
import sys

import pytest

import ioloop

from netsupport import run

pytestmark = pytest.mark.timeout(60)

cvar = contextvars.ContextVar("cvar", default="outer")


@pytest.fixture
def iloop(loop_class, no_fd_leak):
    lp = loop_class()
    try:
        yield lp
    finally:
        if not lp.is_closed():
            lp.run_until_complete(asyncio.sleep(0.01))
            lp.run_until_complete(lp.shutdown_default_executor())
            lp.close()
        asyncio.set_event_loop(None)


class Seen:
    """Records cvar's value in each callback, and the first one in a
    callback that ran before (buffered reads call get_buffer many times)."""

    def __init__(self, loop):
        self.loop = loop
        self.ctx = {}
        self.lost = loop.create_future()
        self.made = loop.create_future()
        self.got = loop.create_future()
        self.eof = loop.create_future()
        self.paused = loop.create_future()
        self.resumed = loop.create_future()
        self.transport = None

    def note(self, name):
        self.ctx.setdefault(name, cvar.get())

    def connection_made(self, transport):
        self.note("connection_made")
        self.transport = transport
        self.made.set_result(None)

    def connection_lost(self, exc):
        self.note("connection_lost")
        self.lost.set_result(exc)

    def eof_received(self):
        self.note("eof_received")
        if not self.eof.done():
            self.eof.set_result(None)

    def pause_writing(self):
        self.note("pause_writing")
        if not self.paused.done():
            self.paused.set_result(None)

    def resume_writing(self):
        self.note("resume_writing")
        if not self.resumed.done():
            self.resumed.set_result(None)


class StreamSeen(Seen, asyncio.Protocol):
    def data_received(self, data):
        self.note("data_received")
        if not self.got.done():
            self.got.set_result(data)


class BufferedSeen(Seen, asyncio.BufferedProtocol):
    def __init__(self, loop):
        super().__init__(loop)
        self.buf = bytearray(1024)

    def get_buffer(self, sizehint):
        self.note("get_buffer")
        return self.buf

    def buffer_updated(self, nbytes):
        self.note("buffer_updated")
        if not self.got.done():
            self.got.set_result(bytes(self.buf[:nbytes]))


def in_context(value, fn, *args):
    """Call fn(*args) with cvar set to value (in a copy of the context)."""
    def call():
        cvar.set(value)
        return fn(*args)
    return contextvars.copy_context().run(call)


@pytest.mark.parametrize("kind", ["tcp", "unix"])
@pytest.mark.parametrize("proto_cls", [StreamSeen, BufferedSeen])
def test_stream_callbacks_run_in_the_transport_context(iloop, kind, proto_cls, sockdir):
    loop = iloop

    async def main():
        cvar.set("inner")
        if kind == "tcp":
            lsock = socket.create_server(("127.0.0.1", 0))
            addr = lsock.getsockname()
            tr, proto = await loop.create_connection(lambda: proto_cls(loop), *addr)
        else:
            path = os.path.join(sockdir, "s")
            lsock = socket.socket(socket.AF_UNIX)
            lsock.bind(path)
            lsock.listen(1)
            tr, proto = await loop.create_unix_connection(lambda: proto_cls(loop), path)
        with lsock:
            peer, _ = lsock.accept()
        peer.setblocking(False)
        with peer:
            await proto.made
            # A read resumed from another context still runs in ours.
            tr.pause_reading()
            await loop.sock_sendall(peer, b"data")
            await asyncio.sleep(0.02)
            loop.call_soon(in_context, "resumer", tr.resume_reading)
            assert await proto.got == b"data"
            # pause_writing/resume_writing, from a writer in another context:
            # the queued KiB goes over the lowered high-water mark.
            def write_over():
                tr.write(b"q" * 1024)
                tr.set_write_buffer_limits(high=256, low=128)

            in_context("writer", write_over)
            await proto.paused
            await proto.resumed  # the loop flushed the 1 KiB
            peer.shutdown(socket.SHUT_WR)
            await proto.eof
        assert await proto.lost is None
        return proto

    proto = run(loop, main())
    names = ["connection_made", "eof_received", "pause_writing", "resume_writing",
             "connection_lost"]
    names += (["get_buffer", "buffer_updated"] if proto_cls is BufferedSeen
              else ["data_received"])
    assert proto.ctx == {name: "inner" for name in names}


def test_connection_lost_after_close_from_another_context(iloop):
    loop = iloop

    async def main():
        cvar.set("inner")
        lsock = socket.create_server(("127.0.0.1", 0))
        with lsock:
            tr, proto = await loop.create_connection(lambda: StreamSeen(loop),
                                                     *lsock.getsockname())
            peer, _ = lsock.accept()
        with peer:
            await proto.made
            loop.call_soon(in_context, "closing", tr.close)
            await proto.lost
        # abort() from another context, and a fatal error, too.
        lsock = socket.create_server(("127.0.0.1", 0))
        with lsock:
            tr2, proto2 = await loop.create_connection(lambda: StreamSeen(loop),
                                                       *lsock.getsockname())
            peer, _ = lsock.accept()
        with peer:
            await proto2.made
            loop.call_soon(in_context, "aborting", tr2.abort)
            await proto2.lost
        return proto, proto2

    proto, proto2 = run(loop, main())
    assert proto.ctx["connection_lost"] == "inner"
    assert proto2.ctx["connection_lost"] == "inner"


def test_server_side_callbacks_run_in_the_create_server_context(iloop):
    loop = iloop
    protos = []

    async def main():
        cvar.set("inner")
        server = await loop.create_server(lambda: protos.append(StreamSeen(loop))
                                          or protos[-1], "127.0.0.1", 0)
        async with server:
            cvar.set("later")
            with socket.create_connection(server.sockets[0].getsockname()) as c:
                c.setblocking(False)
                while not protos:
                    await asyncio.sleep(0.005)
                proto = protos[0]
                await proto.made
                await loop.sock_sendall(c, b"x")
                await proto.got
                loop.call_soon(in_context, "closing", proto.transport.close)
                await proto.lost
        return proto

    proto = run(loop, main())
    assert proto.ctx == {"connection_made": "inner", "data_received": "inner",
                         "connection_lost": "inner"}


class DgramSeen(Seen, asyncio.DatagramProtocol):
    def datagram_received(self, data, addr):
        self.note("datagram_received")
        if not self.got.done():
            self.got.set_result(data)

    def error_received(self, exc):
        self.note("error_received")


def test_datagram_callbacks_run_in_the_transport_context(iloop):
    loop = iloop

    async def main():
        cvar.set("inner")
        tr, proto = await loop.create_datagram_endpoint(
            lambda: DgramSeen(loop), local_addr=("127.0.0.1", 0))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"data", tr.get_extra_info("sockname"))
            assert await proto.got == b"data"
        # An ICMP port unreachable for a connected endpoint: error_received.
        closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()
        closed.close()
        tr2, proto2 = await loop.create_datagram_endpoint(
            lambda: DgramSeen(loop), remote_addr=dead)
        for _ in range(50):
            in_context("sender", tr2.sendto, b"x")
            await asyncio.sleep(0.01)
            if "error_received" in proto2.ctx:
                break
        loop.call_soon(in_context, "closing", tr.close)
        loop.call_soon(in_context, "closing", tr2.close)
        await proto.lost
        await proto2.lost
        return proto, proto2

    proto, proto2 = run(loop, main())
    assert proto.ctx == {"connection_made": "inner", "datagram_received": "inner",
                         "connection_lost": "inner"}
    assert proto2.ctx["error_received"] == "inner"
    assert proto2.ctx["connection_lost"] == "inner"


def test_pipe_callbacks_run_in_the_transport_context(iloop):
    loop = iloop

    async def main():
        cvar.set("inner")
        r, w = os.pipe()
        rtr, rproto = await loop.connect_read_pipe(lambda: StreamSeen(loop),
                                                   open(r, "rb", buffering=0))
        r2, w2 = os.pipe()
        wtr, wproto = await loop.connect_write_pipe(lambda: StreamSeen(loop),
                                                    open(w2, "wb", buffering=0))
        rtr.pause_reading()
        os.write(w, b"data")
        loop.call_soon(in_context, "resumer", rtr.resume_reading)
        assert await rproto.got == b"data"
        os.close(w)
        await rproto.eof
        await rproto.lost
        wtr.set_write_buffer_limits(high=1, low=0)
        in_context("writer", wtr.write, b"x" * 1024 * 1024)
        await wproto.paused
        loop.call_soon(in_context, "closing", wtr.abort)
        await wproto.lost
        os.close(r2)
        return rproto, wproto

    rproto, wproto = run(loop, main())
    assert rproto.ctx == {"connection_made": "inner", "data_received": "inner",
                          "eof_received": "inner", "connection_lost": "inner"}
    assert wproto.ctx == {"connection_made": "inner", "pause_writing": "inner",
                          "connection_lost": "inner"}


class ProcSeen(asyncio.SubprocessProtocol):
    def __init__(self, loop):
        self.ctx = {}
        self.exited = loop.create_future()
        self.lost = loop.create_future()

    def note(self, name):
        self.ctx.setdefault(name, cvar.get())

    def connection_made(self, transport):
        self.note("connection_made")

    def pipe_data_received(self, fd, data):
        self.note("pipe_data_received")

    def pipe_connection_lost(self, fd, exc):
        self.note("pipe_connection_lost")

    def process_exited(self):
        self.note("process_exited")
        self.exited.set_result(None)

    def connection_lost(self, exc):
        self.note("connection_lost")
        self.lost.set_result(exc)


def test_subprocess_callbacks_run_in_the_transport_context(iloop):
    loop = iloop

    async def main():
        cvar.set("inner")
        tr, proto = await loop.subprocess_exec(
            lambda: ProcSeen(loop), sys.executable, "-c",
            "import sys; sys.stdout.write(sys.stdin.read())")
        try:
            cvar.set("later")
            stdin = tr.get_pipe_transport(0)
            stdin.write(b"data")
            stdin.write_eof()
            await proto.exited
            await proto.lost
        finally:
            tr.close()
        return proto

    proto = run(loop, main())
    assert proto.ctx == {name: "inner" for name in (
        "connection_made", "pipe_data_received", "pipe_connection_lost",
        "process_exited", "connection_lost")}
