"""Datagram endpoints and TLS on the asyncio face.

UDP: create_datagram_endpoint with local/remote addresses, sendto and
datagram_received, error_received on an ICMP port-unreachable, socket
options (allow_broadcast, reuse_port), sock=, Unix datagrams, closing, bad
input. TLS: ssl= on servers and clients, server_hostname checks, start_tls
upgrading a plain connection, handshake timeouts on both sides, streams.

Every test runs on ioloop and on stock asyncio (the reference). The
certificate is made once per test run with ``cryptography`` or, failing
that, the ``openssl`` command; without either the TLS tests are skipped.
"""

import asyncio
import os
import socket
import sys
import time

import pytest

import ioloop

from netsupport import (Lifecycle, Recorder, close_server, digest, is_ioloop, run,
                        slow_reader, tcp_listener)

try:
    import ssl
except ImportError:  # pragma: no cover
    ssl = None

pytestmark = pytest.mark.timeout(60)


# -- UDP ----------------------------------------------------------------------------------


class Dgram(Lifecycle, asyncio.DatagramProtocol):
    def __init__(self, loop):
        super().__init__(loop)
        self.got = []
        self.errors = []
        self._arrived = None

    def datagram_received(self, data, addr):
        assert isinstance(data, bytes)
        self.got.append((data, addr))
        self._kick()

    def error_received(self, exc):
        self.errors.append(exc)
        self._kick()

    def _kick(self):
        if self._arrived is not None and not self._arrived.done():
            self._arrived.set_result(None)

    async def wait(self, pred):
        while not pred():
            self._arrived = self.loop.create_future()
            await self._arrived


def test_udp_local_and_remote(aloop):
    async def main():
        srv_tr, srv = await aloop.create_datagram_endpoint(
            lambda: Dgram(aloop), local_addr=("127.0.0.1", 0))
        saddr = srv_tr.get_extra_info("sockname")
        assert saddr[0] == "127.0.0.1" and saddr[1] > 0
        assert srv_tr.get_extra_info("peername") is None
        cli_tr, cli = await aloop.create_datagram_endpoint(
            lambda: Dgram(aloop), remote_addr=saddr)
        assert cli_tr.get_extra_info("peername") == saddr
        caddr = cli_tr.get_extra_info("sockname")
        sock = cli_tr.get_extra_info("socket")
        assert sock.type == socket.SOCK_DGRAM and sock.getsockname() == caddr
        assert cli_tr.get_extra_info("nope", 3) == 3
        cli_tr.sendto(b"one")
        cli_tr.sendto(bytearray(b"two"), saddr)  # the connected address is allowed
        cli_tr.sendto(memoryview(b"three"))
        await srv.wait(lambda: len(srv.got) == 3)
        assert srv.got == [(b"one", caddr), (b"two", caddr), (b"three", caddr)]
        srv_tr.sendto(b"back", caddr)
        await cli.wait(lambda: cli.got)
        assert cli.got == [(b"back", saddr)]
        with pytest.raises(ValueError):
            cli_tr.sendto(b"x", ("127.0.0.1", saddr[1] + 1 if saddr[1] < 65535 else 1))
        with pytest.raises(TypeError):
            cli_tr.sendto("text")
        assert cli_tr.get_write_buffer_size() == 0
        for tr in (cli_tr, srv_tr):
            assert not tr.is_closing()
            tr.close()
            assert tr.is_closing()
            tr.close()
        assert await cli.lost is None and await srv.lost is None
        cli_tr.sendto(b"after close")  # ignored
        await asyncio.sleep(0.02)
        assert cli.lost_count == 1 and srv.lost_count == 1
        assert not srv.errors and not cli.errors

    run(aloop, main())


def test_udp_transport_fd_is_not_open_to_add_reader(aloop):
    """The fd of a live datagram transport refuses add/remove_reader and
    _writer (RuntimeError, as asyncio); once it is closed, the number is
    free again."""
    async def main():
        tr, proto = await aloop.create_datagram_endpoint(
            lambda: Dgram(aloop), local_addr=("127.0.0.1", 0))
        fd = tr.get_extra_info("socket").fileno()
        for call in (lambda: aloop.add_reader(fd, print),
                     lambda: aloop.add_writer(fd, print),
                     lambda: aloop.remove_reader(fd),
                     lambda: aloop.remove_writer(fd)):
            with pytest.raises(RuntimeError, match="is used by transport"):
                call()
        # The transport still receives.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"ping", tr.get_extra_info("sockname"))
            await proto.wait(lambda: proto.got)
        assert proto.got[0][0] == b"ping"
        tr.close()
        await proto.lost
        a, b = socket.socketpair()
        with a, b:
            aloop.add_reader(a.fileno(), print)
            assert aloop.remove_reader(a.fileno())

    run(aloop, main())


def test_udp_many_datagrams_keep_boundaries(aloop):
    async def main():
        srv_tr, srv = await aloop.create_datagram_endpoint(
            lambda: Dgram(aloop), local_addr=("127.0.0.1", 0))
        saddr = srv_tr.get_extra_info("sockname")
        cli_tr, cli = await aloop.create_datagram_endpoint(
            lambda: Dgram(aloop), local_addr=("127.0.0.1", 0))
        sent = [b"%04d" % i * (i % 50 + 1) for i in range(200)]
        for i in range(0, 200, 20):
            for d in sent[i:i + 20]:
                cli_tr.sendto(d, saddr)
            await srv.wait(lambda: len(srv.got) >= i + 20)
        assert [d for d, _ in srv.got] == sent  # loopback: no loss, no reorder
        big = os.urandom(60000)
        cli_tr.sendto(big, saddr)
        await srv.wait(lambda: len(srv.got) == 201)
        assert srv.got[-1][0] == big
        cli_tr.close()
        srv_tr.abort()
        await cli.lost
        await srv.lost

    run(aloop, main())


def test_udp_error_received_on_port_unreachable(aloop):
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))
    addr = dead.getsockname()
    dead.close()  # nobody listens there now: ICMP port unreachable

    async def main():
        tr, p = await aloop.create_datagram_endpoint(lambda: Dgram(aloop), remote_addr=addr)
        deadline = time.monotonic() + 5
        while not p.errors and time.monotonic() < deadline:
            tr.sendto(b"anyone?")
            await asyncio.sleep(0.02)
        assert p.errors, "no error_received"
        assert isinstance(p.errors[0], ConnectionRefusedError)
        assert not tr.is_closing()  # an ICMP error does not close the endpoint
        assert not p.lost.done()
        tr.close()
        assert await p.lost is None

    run(aloop, main())


def test_udp_socket_options(aloop):
    async def main():
        tr, p = await aloop.create_datagram_endpoint(
            lambda: Dgram(aloop), local_addr=("127.0.0.1", 0), allow_broadcast=True)
        sock = tr.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST) != 0
        port = tr.get_extra_info("sockname")[1]
        tr.close()
        await p.lost
        t1, p1 = await aloop.create_datagram_endpoint(
            lambda: Dgram(aloop), local_addr=("127.0.0.1", 0), reuse_port=True)
        port = t1.get_extra_info("sockname")[1]
        assert t1.get_extra_info("socket").getsockopt(socket.SOL_SOCKET,
                                                      socket.SO_REUSEPORT) != 0
        t2, p2 = await aloop.create_datagram_endpoint(
            lambda: Dgram(aloop), local_addr=("127.0.0.1", port), reuse_port=True)
        assert t2.get_extra_info("sockname")[1] == port
        with pytest.raises(OSError):
            await aloop.create_datagram_endpoint(
                lambda: Dgram(aloop), local_addr=("127.0.0.1", port))
        for t, pp in ((t1, p1), (t2, p2)):
            t.close()
            await pp.lost

    run(aloop, main())


def test_udp_sock_argument_and_bad_input(aloop):
    async def main():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        tr, p = await aloop.create_datagram_endpoint(lambda: Dgram(aloop), sock=s)
        assert s.gettimeout() == 0
        assert tr.get_extra_info("sockname") == s.getsockname()
        tr.close()
        await p.lost
        assert s.fileno() == -1
        t = socket.socket()
        try:
            # ioloop words it as uvloop (and asyncio before 3.13) do; asyncio
            # says "A datagram socket was expected" from 3.13 on.
            expected = ("A UDP Socket was expected, got" if isinstance(aloop, ioloop.IOLoop)
                        else "(A UDP Socket|A datagram socket) was expected, got")
            with pytest.raises(ValueError, match=expected):
                await aloop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=t)
        finally:
            t.close()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            with pytest.raises(ValueError):
                await aloop.create_datagram_endpoint(
                    asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0), sock=u)
        finally:
            u.close()
        with pytest.raises(ValueError):
            await aloop.create_datagram_endpoint(asyncio.DatagramProtocol)
        # reuse_address=True: ValueError up to 3.10, the keyword is gone from 3.11
        with pytest.raises((ValueError, TypeError)):
            await aloop.create_datagram_endpoint(
                asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0), reuse_address=True)
        # local_addr not a pair: TypeError (stock asyncio up to 3.10: an assert)
        not_a_pair = (TypeError if is_ioloop(aloop) or sys.version_info >= (3, 11)
                      else AssertionError)
        with pytest.raises(not_a_pair):
            await aloop.create_datagram_endpoint(
                asyncio.DatagramProtocol, local_addr="127.0.0.1")
        with pytest.raises(OSError):
            await aloop.create_datagram_endpoint(
                asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0),
                family=socket.AF_INET6)
        # family only: an unbound socket of that family
        tr, p = await aloop.create_datagram_endpoint(lambda: Dgram(aloop),
                                                     family=socket.AF_INET)
        assert tr.get_extra_info("socket").family == socket.AF_INET
        tr.close()
        await p.lost

    run(aloop, main())


def test_udp_sendto_after_close_is_dropped(aloop, caplog):
    """Datagrams sent after close() are dropped, as writes to a closed
    stream are (with the same warning after a few): uvloop's behaviour.
    Stock asyncio still sends until connection_lost has run, then raises
    AttributeError for an unconnected endpoint."""
    if not is_ioloop(aloop):
        pytest.skip("asyncio raises AttributeError here")

    async def main():
        tr, p = await aloop.create_datagram_endpoint(
            lambda: Dgram(aloop), local_addr=("127.0.0.1", 0))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.bind(("127.0.0.1", 0))
            peer.setblocking(False)
            tr.close()
            tr.sendto(b"after close", peer.getsockname())
            await p.lost
            for _ in range(6):
                tr.sendto(b"after connection_lost", peer.getsockname())
            await asyncio.sleep(0.02)
            with pytest.raises(BlockingIOError):
                peer.recv(100)
        assert "socket.send() raised exception." in caplog.text

    run(aloop, main())


def test_udp_sendto_without_address_on_a_connected_socket(aloop):
    """sendto(data) on a connected datagram socket given with sock= (here
    an AF_UNIX socketpair, whose peer has no name) sends to the peer, as
    uvloop; stock asyncio calls socket.sendto(data, None), a fatal
    TypeError."""
    if not is_ioloop(aloop):
        pytest.skip("asyncio: fatal TypeError")

    async def main():
        s1, s2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        with s2:
            tr, p = await aloop.create_datagram_endpoint(lambda: Dgram(aloop), sock=s1)
            s2.send(b"hello")
            await p.wait(lambda: p.got)
            assert p.got == [(b"hello", None)]
            tr.sendto(b"from the transport")
            s2.settimeout(5)
            assert s2.recv(100) == b"from the transport"
            tr.close()
            await p.lost

    run(aloop, main())


def test_udp_sendto_needs_a_numeric_address_of_the_socket_family(aloop):
    """uvloop's rule: a host name (which socket.sendto() would resolve with
    a blocking getaddrinfo() inside the loop) or an address of the other
    family is a ValueError."""
    if not is_ioloop(aloop):
        pytest.skip("asyncio resolves the name in socket.sendto()")

    async def main():
        tr, p = await aloop.create_datagram_endpoint(
            lambda: Dgram(aloop), local_addr=("127.0.0.1", 0), family=socket.AF_INET)
        with pytest.raises(ValueError, match="DNS lookup"):
            tr.sendto(b"x", ("localhost", 80))
        with pytest.raises(ValueError, match="socket family mismatch"):
            tr.sendto(b"x", ("::1", 80))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.bind(("127.0.0.1", 0))
            tr.sendto(b"numeric", peer.getsockname())
            tr.sendto(b"bytes host", (b"127.0.0.1", peer.getsockname()[1]))
            peer.settimeout(5)
            assert peer.recv(100) == b"numeric"
            assert peer.recv(100) == b"bytes host"
        assert not tr.is_closing() and not p.errors
        tr.close()
        await p.lost

    run(aloop, main())


def test_udp_unix(aloop, sockdir):
    async def main():
        spath = os.path.join(sockdir, "srv")
        cpath = os.path.join(sockdir, "cli")
        srv_tr, srv = await aloop.create_datagram_endpoint(
            lambda: Dgram(aloop), local_addr=spath, family=socket.AF_UNIX)
        cli_tr, cli = await aloop.create_datagram_endpoint(
            lambda: Dgram(aloop), local_addr=cpath, remote_addr=spath, family=socket.AF_UNIX)
        cli_tr.sendto(b"unix dgram")
        await srv.wait(lambda: srv.got)
        assert srv.got == [(b"unix dgram", cpath)]
        srv_tr.sendto(b"reply", cpath)
        await cli.wait(lambda: cli.got)
        assert cli.got == [(b"reply", spath)]
        cli_tr.close()
        srv_tr.close()
        await cli.lost
        await srv.lost

    run(aloop, main())


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
def test_udp_ipv6(aloop):
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")

    async def main():
        srv_tr, srv = await aloop.create_datagram_endpoint(
            lambda: Dgram(aloop), local_addr=("::1", 0))
        saddr = srv_tr.get_extra_info("sockname")
        cli_tr, cli = await aloop.create_datagram_endpoint(
            lambda: Dgram(aloop), remote_addr=saddr[:2])
        cli_tr.sendto(b"six")
        await srv.wait(lambda: srv.got)
        assert srv.got[0][0] == b"six"
        assert srv.got[0][1][:2] == cli_tr.get_extra_info("sockname")[:2]
        cli_tr.close()
        srv_tr.close()
        await cli.lost
        await srv.lost

    run(aloop, main())


# -- TLS ----------------------------------------------------------------------------------


def test_tls_echo_and_extra_info(aloop, server_ctx, client_ctx):
    data = os.urandom(1024 * 1024)

    async def main():
        sp = Recorder(aloop, echo=True)
        server = await aloop.create_server(lambda: sp, "127.0.0.1", 0, ssl=server_ctx)
        host, port = server.sockets[0].getsockname()
        cp = Recorder(aloop)
        tr, _ = await aloop.create_connection(lambda: cp, host, port, ssl=client_ctx,
                                              server_hostname="localhost")
        await sp.made
        assert tr.get_extra_info("sslcontext") is client_ctx
        sslobj = tr.get_extra_info("ssl_object")
        assert sslobj is not None and sslobj.version().startswith("TLS")
        assert tr.get_extra_info("peercert")["subject"] == ((("commonName", "localhost"),),)
        assert isinstance(tr.get_extra_info("cipher"), tuple)
        assert tr.get_extra_info("peername") == (host, port)
        assert tr.get_extra_info("socket").family == socket.AF_INET
        assert sp.transport.get_extra_info("ssl_object").server_side
        tr.write(data)
        await cp.received(len(data))
        assert digest(cp.data) == digest(data)
        tr.close()
        assert await cp.lost is None
        await sp.lost
        assert cp.events[:2] == ["made", "data"] and cp.events[-1] == ("lost", None)
        assert cp.lost_count == 1 and sp.lost_count == 1
        assert sp.events[:2] == ["made", "data"] and sp.events[-1][0] == "lost"
        await close_server(server)

    run(aloop, main())


def test_tls_server_hostname_checks(aloop, server_ctx, client_ctx):
    async def main():
        server = await aloop.create_server(lambda: Recorder(aloop), "127.0.0.1", 0,
                                           ssl=server_ctx)
        host, port = server.sockets[0].getsockname()
        # the IP address is in the certificate: the host itself is checked
        cp = Recorder(aloop)
        tr, _ = await aloop.create_connection(lambda: cp, host, port, ssl=client_ctx)
        tr.close()
        await cp.lost
        with pytest.raises(ssl.SSLCertVerificationError):
            await aloop.create_connection(lambda: Recorder(aloop), host, port, ssl=client_ctx,
                                          server_hostname="not-this-host.example")
        # no trust anchor for a self-signed certificate
        with pytest.raises(ssl.SSLCertVerificationError):
            await aloop.create_connection(lambda: Recorder(aloop), host, port,
                                          ssl=ssl.create_default_context(),
                                          server_hostname="localhost")
        # server_hostname needs ssl
        with pytest.raises(ValueError):
            await aloop.create_connection(lambda: Recorder(aloop), host, port,
                                          server_hostname="localhost")
        # ssl without a host to check needs server_hostname
        s = socket.socket()
        s.setblocking(False)
        try:
            await aloop.sock_connect(s, (host, port))
            with pytest.raises(ValueError):
                await aloop.create_connection(lambda: Recorder(aloop), sock=s, ssl=client_ctx)
        finally:
            s.close()
        with pytest.raises(ValueError):
            await aloop.create_connection(lambda: Recorder(aloop), host, port, ssl=client_ctx,
                                          ssl_handshake_timeout=0)
        await close_server(server)

    run(aloop, main())


def skip_old_asyncio_tls(loop):
    """ioloop has its own TLS layer; stock asyncio's before 3.11 is an older
    implementation that fails the test this is called from."""
    if not is_ioloop(loop) and sys.version_info < (3, 11):
        pytest.skip("stock asyncio's TLS layer before 3.11 fails this")


def test_tls_unix_and_server_closes_after_sending(aloop, server_ctx, client_ctx, sockdir):
    skip_old_asyncio_tls(aloop)
    data = os.urandom(3 * 1024 * 1024)

    class Sender(Recorder):
        def connection_made(self, transport):
            super().connection_made(transport)
            transport.write(data)
            transport.close()  # flushes first

    async def main():
        path = os.path.join(sockdir, "tls")
        sp = Sender(aloop)
        server = await aloop.create_unix_server(lambda: sp, path, ssl=server_ctx)
        cp = Recorder(aloop)
        tr, _ = await aloop.create_unix_connection(lambda: cp, path, ssl=client_ctx,
                                                   server_hostname="localhost")
        await cp.eof
        assert digest(cp.data) == digest(data)
        assert await cp.lost is None
        await sp.lost
        await close_server(server)

    run(aloop, main())


def test_start_tls_upgrades_a_plain_connection(aloop, server_ctx, client_ctx):
    class StartTLSServer(Recorder):
        def __init__(self, loop):
            super().__init__(loop)
            self.upgraded = loop.create_future()

        def data_received(self, data):
            super().data_received(data)
            if bytes(self.data) == b"STARTTLS\n":
                self.data.clear()
                self.transport.write(b"OK\n")
                self.loop.create_task(self._upgrade())

        async def _upgrade(self):
            try:
                tr = await self.loop.start_tls(self.transport, self, server_ctx,
                                               server_side=True)
            except BaseException as e:
                self.upgraded.set_exception(e)
                raise
            self.transport = tr
            self.echo = True
            self.upgraded.set_result(tr)

    async def main():
        sp = StartTLSServer(aloop)
        server = await aloop.create_server(lambda: sp, "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()
        cp = Recorder(aloop)
        tr, _ = await aloop.create_connection(lambda: cp, host, port)
        assert tr.get_extra_info("ssl_object") is None
        tr.write(b"STARTTLS\n")
        await cp.received(3)
        assert bytes(cp.data) == b"OK\n"
        cp.data.clear()
        with pytest.raises(TypeError):
            await aloop.start_tls(tr, cp, object(), server_hostname="localhost")
        new_tr = await aloop.start_tls(tr, cp, client_ctx, server_hostname="localhost")
        cp.transport = new_tr
        srv_tr = await sp.upgraded
        assert new_tr.get_extra_info("ssl_object") is not None
        assert srv_tr.get_extra_info("ssl_object").server_side
        assert new_tr.get_extra_info("peercert") is not None
        new_tr.write(b"secret")
        await cp.received(6)
        assert bytes(cp.data) == b"secret"
        new_tr.close()
        assert await cp.lost is None
        await sp.lost
        await close_server(server)

    run(aloop, main())


def test_tls_server_handshake_timeout(aloop, server_ctx):
    async def main():
        server = await aloop.create_server(lambda: Recorder(aloop), "127.0.0.1", 0,
                                           ssl=server_ctx, ssl_handshake_timeout=0.3)
        addr = server.sockets[0].getsockname()
        s = socket.socket()
        s.setblocking(False)
        try:
            await aloop.sock_connect(s, addr)
            t0 = time.monotonic()
            try:
                data = await aloop.sock_recv(s, 100)  # we never say hello
            except ConnectionResetError:
                data = b""
            elapsed = time.monotonic() - t0
            assert data == b""
            assert 0.2 <= elapsed < 3.0, elapsed
        finally:
            s.close()
        await close_server(server)

    run(aloop, main())


def test_tls_client_handshake_timeout(aloop, client_ctx):
    lsock = tcp_listener(1)

    async def main():
        accepted = asyncio.ensure_future(aloop.sock_accept(lsock))
        t0 = time.monotonic()
        with pytest.raises(ConnectionAbortedError):
            await aloop.create_connection(
                lambda: Recorder(aloop), *lsock.getsockname(), ssl=client_ctx,
                server_hostname="localhost", ssl_handshake_timeout=0.3)
        elapsed = time.monotonic() - t0
        assert 0.2 <= elapsed < 3.0, elapsed
        conn, _ = await accepted
        try:
            # the client gave up and closed its socket
            got = b""
            while True:
                chunk = await aloop.sock_recv(conn, 65536)
                if not chunk:
                    break
                got += chunk
            assert got  # the ClientHello
        finally:
            conn.close()

    with lsock:
        run(aloop, main())


def test_tls_streams(aloop, server_ctx, client_ctx):
    async def handle(reader, writer):
        line = await reader.readline()
        writer.write(line[::-1])
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
        host, port = server.sockets[0].getsockname()
        reader, writer = await asyncio.open_connection(host, port, ssl=client_ctx,
                                                       server_hostname="localhost")
        writer.write(b"abc\n")
        assert await reader.read() == b"\ncba"
        writer.close()
        await writer.wait_closed()
        await close_server(server)

    run(aloop, main())


def test_tls_streams_backpressure(aloop, server_ctx, client_ctx):
    """The TLS layer's flow control rides on the socket transport's: a
    writer that drains against a slow reader gets everything through."""
    skip_old_asyncio_tls(aloop)
    data = os.urandom(8 * 1024 * 1024)
    received = bytearray()

    async def main():
        server = await asyncio.start_server(slow_reader(received), "127.0.0.1", 0,
                                            ssl=server_ctx)
        host, port = server.sockets[0].getsockname()
        reader, writer = await asyncio.open_connection(host, port, ssl=client_ctx,
                                                       server_hostname="localhost")
        writer.transport.set_write_buffer_limits(high=256 * 1024)
        paused = 0
        view = memoryview(data)
        for i in range(0, len(data), 512 * 1024):
            writer.write(view[i:i + 512 * 1024])
            if writer.transport.get_write_buffer_size() > 256 * 1024:
                paused += 1
            await writer.drain()
        assert paused > 0
        writer.close()  # close_notify: the server reads to the end, then EOF
        await writer.wait_closed()
        while len(received) < len(data):
            await asyncio.sleep(0.01)
        assert digest(received) == digest(data)
        await close_server(server)

    run(aloop, main(), timeout=30)
