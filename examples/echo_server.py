"""A TCP echo server on the classic IOLoop API.

This is the server from Tornado's old ``ioloop`` docstring (the one the seed
blog post walks through), in Python 3 form: a non-blocking listening socket
whose READ handler accepts every pending connection, and one handler per
connection that echoes what it reads.

    python examples/echo_server.py [PORT]      # default 8888, 0 = any free port

The first line on stdout is ``listening on 127.0.0.1:PORT`` (with the real
port when PORT is 0). Ctrl-C or SIGTERM stops the server.
"""

import argparse
import errno
import functools
import signal
import socket
import sys

import ioloop
from ioloop import IOLoop

# Bytes read per recv() call; also the most one connection buffers before it
# stops reading (back-pressure: a client that does not read its echo is not
# allowed to make the server buffer without bound).
CHUNK_SIZE = 64 * 1024


class EchoConnection:
    """Echo one client: read, send back, buffer only what the kernel refuses."""

    def __init__(self, io_loop, conn, address):
        self.io_loop = io_loop
        self.conn = conn
        self.address = address
        self.pending = bytearray()
        self.mask = IOLoop.READ
        io_loop.add_handler(conn, self.on_events, self.mask)

    def on_events(self, conn, events):
        # `conn` is the very object passed to add_handler; `events` is the
        # combined epoll mask (ERROR may come together with READ).
        try:
            if events & (IOLoop.READ | IOLoop.ERROR) and not self.pending:
                data = conn.recv(CHUNK_SIZE)
                if not data:  # orderly shutdown by the peer
                    self.close()
                    return
                self.pending += data
            if self.pending:
                sent = conn.send(self.pending)
                del self.pending[:sent]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:  # reset by peer, broken pipe, ...
            self.close()
            return
        # Wait for WRITE while the kernel buffer is full, for READ otherwise.
        wanted = IOLoop.WRITE if self.pending else IOLoop.READ
        if wanted != self.mask:
            self.mask = wanted
            self.io_loop.update_handler(conn, wanted)

    def close(self):
        self.io_loop.remove_handler(self.conn)
        self.conn.close()


def connection_ready(sock, fd, events):
    """READ on the listening socket: accept until the backlog is empty."""
    while True:
        try:
            connection, address = sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            # Out of fds or a connection aborted before accept(): keep serving.
            if exc.errno in (errno.ECONNABORTED, errno.EMFILE, errno.ENFILE):
                return
            raise
        connection.setblocking(False)
        EchoConnection(IOLoop.current(), connection, address)


def port_number(text):
    """argparse type: a TCP port, 0 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range (0-65535): {port}")
    return port


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="echo_server.py",
        description="TCP echo server on 127.0.0.1, on ioloop's classic IOLoop API. "
                    "Prints 'listening on 127.0.0.1:PORT' first; "
                    "Ctrl-C or SIGTERM stops it.")
    parser.add_argument("port", nargs="?", type=port_number, default=8888,
                        help="port to listen on (default 8888; 0 picks a free one)")
    return parser.parse_args(argv)


def main(argv):
    port = parse_args(argv[1:]).port

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setblocking(False)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    print(f"listening on 127.0.0.1:{sock.getsockname()[1]}", flush=True)
    print(f"engine: {ioloop.implementation}", flush=True)

    io_loop = IOLoop.current()
    callback = functools.partial(connection_ready, sock)
    io_loop.add_handler(sock, callback, IOLoop.READ)

    def on_sigterm(signum, frame):
        io_loop.add_callback_from_signal(io_loop.stop)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        io_loop.start()
    except KeyboardInterrupt:
        pass
    finally:
        # Closes the listening socket and every open connection.
        io_loop.close(all_fds=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
