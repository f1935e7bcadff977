"""A client for echo_server.py: an ``async def`` on the classic IOLoop API.

    python examples/echo_client.py [PORT] [HOST]   # default 8888 127.0.0.1

Sends a few messages, prints each reply, and exits 0 when every message came
back unchanged (1 on a mismatch, 2 when the server cannot be reached or does
not answer in time).

``wait_for_fd`` turns one ``add_handler`` event into an awaitable, and
``run_sync`` drives the coroutine with a deadline for the whole exchange.
"""

import argparse
import errno
import socket
import sys

from ioloop import IOLoop, TimeoutError

MESSAGES = [b"hello", b"ioloop", b"\x00binary\xff", b"x" * 100_000]

# Seconds for the whole exchange: a dead server makes the client fail, not hang.
TIMEOUT = 10.0


async def wait_for_fd(sock, events):
    """Wait until ``sock`` is ready for ``events``; return the epoll mask."""
    io_loop = IOLoop.current()
    ready = io_loop.create_future()

    def on_events(fd, got):
        io_loop.remove_handler(fd)
        if not ready.done():
            ready.set_result(got)

    io_loop.add_handler(sock, on_events, events)
    try:
        return await ready
    finally:
        io_loop.remove_handler(sock)  # silent if on_events already did


async def connect(host, port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    err = sock.connect_ex((host, port))
    if err == errno.EINPROGRESS:
        await wait_for_fd(sock, IOLoop.WRITE)
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        sock.close()
        raise ConnectionError(
            err, f"connect to {host}:{port}: {errno.errorcode.get(err, err)}")
    return sock


async def echo(sock, message):
    """Send ``message`` and read back as many bytes.

    Sending and receiving are interleaved: a big message would otherwise
    fill both kernel buffers and deadlock against the echoing server.
    """
    unsent = memoryview(message)
    reply = bytearray()
    while len(reply) < len(message):
        progressed = False
        if unsent:
            try:
                unsent = unsent[sock.send(unsent):]
                progressed = True
            except BlockingIOError:
                pass
        try:
            chunk = sock.recv(len(message) - len(reply))
        except BlockingIOError:
            chunk = None
        if chunk == b"":
            raise ConnectionError(
                f"server closed after {len(reply)} of {len(message)} bytes")
        if chunk:
            reply += chunk
            progressed = True
        if not progressed:
            wanted = IOLoop.READ | (IOLoop.WRITE if unsent else 0)
            await wait_for_fd(sock, wanted)
    return bytes(reply)


async def echo_all(host, port):
    sock = await connect(host, port)
    ok = True
    try:
        for message in MESSAGES:
            reply = await echo(sock, message)
            shown = reply if len(reply) <= 40 else reply[:20] + b"..."
            print(f"sent {len(message)} bytes, got back {shown!r}")
            ok = ok and reply == message
    finally:
        sock.close()
    return ok


def port_number(text):
    """argparse type: a TCP port, 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range (1-65535): {port}")
    return port


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="echo_client.py",
        description="Send a few messages to echo_server.py and check every reply. "
                    "Exits 0 when all came back unchanged, 1 on a mismatch, "
                    "2 when the server cannot be reached or does not answer "
                    f"within {TIMEOUT:g} s (or on a usage error).")
    parser.add_argument("port", nargs="?", type=port_number, default=8888,
                        help="server port (default 8888)")
    parser.add_argument("host", nargs="?", default="127.0.0.1",
                        help="server address (default 127.0.0.1)")
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv[1:])
    port, host = args.port, args.host
    io_loop = IOLoop()
    try:
        ok = io_loop.run_sync(lambda: echo_all(host, port), timeout=TIMEOUT)
    except (OSError, TimeoutError) as exc:
        print(f"echo failed: {exc!r}", file=sys.stderr)
        return 2
    finally:
        io_loop.close()
    print("all echoed" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
