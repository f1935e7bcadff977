"""One stream-transport meaning on both engines.

The compiled engine and the pure-Python twin share one stream transport
(its cold paths written once, in Python) over two cores (the hot paths: the
Cython ``StreamCore`` and its pure-Python twin). These tests pin the places
where the two used to drift apart, against stock asyncio as the reference:
each runs on ``ioloop.new_event_loop()`` and on ``asyncio.new_event_loop()``,
and the suite runs once per engine.
"""

import asyncio
import gc
import os
import socket
import warnings

import pytest

import ioloop
from ioloop import _transports

from netsupport import is_ioloop, run, settle

pytestmark = pytest.mark.timeout(60)


class EofKeeper(asyncio.Protocol):
    """Keeps the connection open after EOF and counts eof_received()."""

    def __init__(self):
        self.transport = None
        self.eofs = 0
        self.data = b""
        self.lost = None
        self.made = asyncio.get_event_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.made.set_result(None)

    def data_received(self, data):
        self.data += data

    def eof_received(self):
        self.eofs += 1
        return True

    def connection_lost(self, exc):
        self.lost = exc


async def _pair(loop, kind, sockdir, proto):
    """A transport for ``proto`` over one end of a connected pair; returns
    (peer socket, transport)."""
    if kind == "unix":
        a, b = socket.socketpair()
    else:
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        a = socket.create_connection(lsock.getsockname())
        b, _ = lsock.accept()
        lsock.close()
    b.setblocking(False)
    tr, _ = await loop.connect_accepted_socket(lambda: proto, b)
    await proto.made
    return a, tr


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_eof_delivered_again_after_pause_and_resume(aloop, kind, sockdir):
    # asyncio stops reading after eof_received() returns true; resuming
    # reading watches the socket again, which is still at EOF.
    async def main():
        proto = EofKeeper()
        peer, tr = await _pair(aloop, kind, sockdir, proto)
        try:
            peer.sendall(b"x")
            peer.shutdown(socket.SHUT_WR)
            for _ in range(200):
                if proto.eofs:
                    break
                await asyncio.sleep(0.005)
            assert proto.data == b"x" and proto.eofs == 1
            assert not tr.is_closing()
            assert tr.is_reading()
            tr.pause_reading()
            assert not tr.is_reading()
            await settle()
            assert proto.eofs == 1
            tr.resume_reading()
            for _ in range(200):
                if proto.eofs == 2:
                    break
                await asyncio.sleep(0.005)
            assert proto.eofs == 2
            # The write side still works after EOF was kept open.
            tr.write(b"after")
            await settle()
            peer.setblocking(True)
            peer.settimeout(5)
            assert peer.recv(16) == b"after"
        finally:
            tr.close()
            peer.close()
            await settle()
        assert proto.lost is None

    run(aloop, main())


def test_eof_not_delivered_again_while_paused(aloop, sockdir):
    async def main():
        proto = EofKeeper()
        peer, tr = await _pair(aloop, "unix", sockdir, proto)
        try:
            peer.shutdown(socket.SHUT_WR)
            for _ in range(200):
                if proto.eofs:
                    break
                await asyncio.sleep(0.005)
            tr.pause_reading()
            tr.pause_reading()
            await settle(5)
            assert proto.eofs == 1
        finally:
            tr.close()
            peer.close()
            await settle()

    run(aloop, main())


def test_default_write_buffer_limits(aloop, sockdir):
    async def main():
        proto = EofKeeper()
        peer, tr = await _pair(aloop, "unix", sockdir, proto)
        try:
            assert tr.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
            tr.set_write_buffer_limits(low=1000)
            assert tr.get_write_buffer_limits() == (1000, 4000)
            tr.set_write_buffer_limits(high=800)
            assert tr.get_write_buffer_limits() == (200, 800)
            with pytest.raises(ValueError):
                tr.set_write_buffer_limits(high=1, low=2)
        finally:
            tr.close()
            peer.close()
            await settle()

    run(aloop, main())


def test_connection_lost_once_after_abort_with_pending_close(aloop, sockdir):
    class Counting(EofKeeper):
        lost_calls = 0

        def connection_lost(self, exc):
            self.lost_calls += 1
            self.lost = exc

    async def main():
        proto = Counting()
        peer, tr = await _pair(aloop, "unix", sockdir, proto)
        try:
            tr.close()
            tr.abort()
            tr.close()
            assert tr.is_closing()
            await settle(5)
            assert proto.lost_calls == 1 and proto.lost is None
            # Writes to a lost connection are dropped, never raise.
            tr.write(b"dropped")
        finally:
            peer.close()

    run(aloop, main())


def test_write_eof_then_write_raises(aloop, sockdir):
    async def main():
        proto = EofKeeper()
        peer, tr = await _pair(aloop, "unix", sockdir, proto)
        try:
            assert tr.can_write_eof()
            tr.write(b"abc")
            tr.write_eof()
            with pytest.raises(RuntimeError):
                tr.write(b"more")
            with pytest.raises(RuntimeError):
                tr.writelines([b"more"])
            peer.setblocking(True)
            peer.settimeout(5)
            got = b""
            while True:
                chunk = await aloop.run_in_executor(None, peer.recv, 16)
                if not chunk:
                    break
                got += chunk
            assert got == b"abc"
        finally:
            tr.close()
            peer.close()
            await settle()

    run(aloop, main())


def test_extra_info_after_connection_lost(aloop, sockdir):
    async def main():
        proto = EofKeeper()
        peer, tr = await _pair(aloop, "unix", sockdir, proto)
        assert tr.get_extra_info("socket") is not None
        assert tr.get_extra_info("sockname") is not None
        assert tr.get_extra_info("nope", 7) == 7
        tr.close()
        peer.close()
        await settle(5)
        assert tr.get_extra_info("sockname") is not None

    run(aloop, main())


# -- ioloop's own bookkeeping ---------------------------------------------------------------


def test_constants_defined_once():
    # The compiled core mirrors the Python module's constants: they agree.
    try:
        from ioloop import _core
    except ImportError:
        pytest.skip("no compiled engine")
    assert _core.READ_CHUNK == _transports.READ_CHUNK
    assert _core.IOV_BATCH == _transports.IOV_BATCH
    assert _core.LOG_THRESHOLD_FOR_CONNLOST_WRITES == _transports.LOG_THRESHOLD_FOR_CONNLOST_WRITES


def test_one_stream_transport_class(aloop, sockdir):
    if not is_ioloop(aloop):
        pytest.skip("ioloop's classes")

    async def main():
        proto = EofKeeper()
        peer, tr = await _pair(aloop, "unix", sockdir, proto)
        try:
            assert type(tr) is _transports.StreamTransport
            assert isinstance(tr, asyncio.Transport)
            # The core is the one the loop's engine names.
            assert type(tr._core) is aloop._stream_core
            assert repr(tr).startswith("<StreamTransport fd=")
        finally:
            tr.close()
            peer.close()
            await settle()
        assert repr(tr) == f"<StreamTransport closed fd={tr._sock_fd}>"

    run(aloop, main())


def test_python_owned_fds_balanced_on_close_and_del(aloop):
    if not is_ioloop(aloop):
        pytest.skip("ioloop's bookkeeping")

    async def main():
        base = aloop._py_owned_fds
        tr, _ = await aloop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                     local_addr=("127.0.0.1", 0))
        assert aloop._py_owned_fds == base + 1
        tr.close()
        await settle()
        assert aloop._py_owned_fds == base
        # Dropped without close(): the counter goes back too.
        tr, _ = await aloop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                     local_addr=("127.0.0.1", 0))
        assert aloop._py_owned_fds == base + 1
        tr._loop._raw_remove_reader(tr._sock_fd)
        del tr
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
        assert aloop._py_owned_fds == base

    run(aloop, main())


def test_stream_transport_fd_count_balanced(aloop, sockdir):
    if not is_ioloop(aloop):
        pytest.skip("ioloop's bookkeeping")

    async def main():
        base = aloop._py_owned_fds
        proto = EofKeeper()
        peer, tr = await _pair(aloop, "unix", sockdir, proto)
        # Counted only when the core registers through the reader/writer
        # registry (the pure-Python core).
        counted = aloop._stream_core is _transports.StreamCore
        assert aloop._py_owned_fds == base + counted
        tr.close()
        peer.close()
        await settle()
        assert aloop._py_owned_fds == base

    run(aloop, main())


def test_pipe_transport_repr(aloop):
    # The same states as asyncio's pipe transports (the class names differ).
    def states(tr):
        # "<Name [closing|closed] fd=N rest>" without the name and the number.
        words = repr(tr).rstrip(">").split()[1:]
        return " ".join("fd" if w.startswith("fd=") else w for w in words)

    async def main():
        rfd, wfd = os.pipe()
        rpipe, wpipe = open(rfd, "rb", 0), open(wfd, "wb", 0)
        rtr, _ = await aloop.connect_read_pipe(asyncio.Protocol, rpipe)
        wtr, _ = await aloop.connect_write_pipe(asyncio.Protocol, wpipe)
        await settle()
        seen = [states(rtr), states(wtr)]
        rtr.pause_reading()
        seen.append(states(rtr))
        rtr.close()
        wtr.close()
        seen += [states(rtr), states(wtr)]
        await settle()
        seen += [states(rtr), states(wtr)]
        return seen

    assert run(aloop, main()) == [
        "fd polling", "fd idle bufsize=0",
        "fd idle",
        "closing fd idle", "closing fd idle bufsize=0",
        "closed fd closed", "closed fd closed",
    ]
