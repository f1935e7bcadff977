"""Drive an ioloop from another main loop: here, a plain ``selectors`` loop.

The host loop owns the thread and waits on its own fds plus ``loop.fileno()``
(the ioloop's epoll fd: readable when the ioloop has I/O ready, or when
another thread posted a callback), for at most ``loop.poll_timeout()``
seconds (0.0 if callbacks are ready, the time to the next timer, or None:
only I/O can wake it). Whenever it wakes, it calls ``loop.run_once()``, which
runs one iteration and returns. asyncio code (tasks, futures, sockets) runs
as under ``run_forever()``.

    python examples/embed_selectors.py

prints what the asyncio side and the host loop did, then "done".
"""

import asyncio
import selectors
import socket
import threading

from ioloop import IOLoop


async def echo_once(loop, sock):
    # asyncio socket API on the embedded loop.
    data = await loop.sock_recv(sock, 100)
    await loop.sock_sendall(sock, data.upper())
    return data


async def main(loop, server_side):
    await asyncio.sleep(0.05)                       # a timer
    got = await echo_once(loop, server_side)        # I/O
    fut = loop.create_future()                      # a cross-thread wakeup
    threading.Timer(0.05, loop.call_soon_threadsafe, (fut.set_result, "from a thread")).start()
    return got, await fut


def run():
    loop = IOLoop()
    host = selectors.DefaultSelector()
    host.register(loop.fileno(), selectors.EVENT_READ, "ioloop")

    # The host loop's own business: a pipe it reads from.
    host_r, host_w = socket.socketpair()
    host_r.setblocking(False)
    host.register(host_r, selectors.EVENT_READ, "host")

    a, b = socket.socketpair()
    a.setblocking(False)
    task = loop.create_task(main(loop, a))
    b.sendall(b"hello")
    host_w.sendall(b"ping")

    try:
        while not task.done():
            timeout = loop.poll_timeout()              # None: wait for I/O only
            for key, _ in host.select(timeout):
                if key.data == "host":
                    print("host loop read", key.fileobj.recv(100))
            loop.run_once()                            # one iteration, no blocking
        print("asyncio side got", task.result())
        print("echoed back", b.recv(100))
    finally:
        host.close()
        for s in (a, b, host_r, host_w):
            s.close()
        loop.close()
    print("done")


if __name__ == "__main__":
    run()
