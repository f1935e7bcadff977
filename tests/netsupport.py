"""Plain helpers shared by the asyncio networking tests (test_net_*.py).

Their fixtures (``aloop``: ioloop's loop or stock asyncio's as the
reference; ``sockdir``: a short directory for Unix socket paths) live in
conftest.py. Imported as ``from netsupport import ...``, like support.py.
"""

import asyncio
import hashlib
import os
import shutil
import socket
import subprocess

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


# -- TLS certificates -------------------------------------------------------------------


def _cert_with_cryptography(certfile, keyfile):
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True,
            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    with open(keyfile, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(certfile, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


def _cert_with_openssl(certfile, keyfile):
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", keyfile, "-out", certfile,
         "-days", "30", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30)


def make_tls_cert(certfile, keyfile):
    """A self-signed certificate for localhost and 127.0.0.1, made with
    ``cryptography`` or, failing that, the ``openssl`` command. Returns
    None, or the reason neither could make one."""
    try:
        _cert_with_cryptography(certfile, keyfile)
    except ImportError:
        if shutil.which("openssl") is None:
            return "neither cryptography nor openssl available to make a certificate"
        try:
            _cert_with_openssl(certfile, keyfile)
        except (OSError, subprocess.SubprocessError) as e:
            return f"openssl could not make a certificate: {e}"
    return None
