"""The echo workloads: the four echo servers (raw sockets on read handlers,
an ``asyncio.Protocol``, asyncio streams, a Tornado ``TCPServer``), served
by the loop under test in the worker process, and the timed runs: the load
generator (``loadgen``) in another process loads the server for N ms and
counts the replies; the server's CPU time is read over the same window."""


import contextlib
import json
import os
import socket
import subprocess
import sys
import time

from .common import _Skip, _sched_ns, _tune, _wait_share
from .config import ECHO_CONNS, ECHO_DEPTH, ECHO_SIZE, ECHO_STALL_TIMEOUT, ECHO_WARMUP_MS
from .loadgen import _c_tool


# The echo logic both servers share; each server only wires it to its
# loop's own API (add_handler/update_handler or add_reader/add_writer).
_ECHO_CLOSE, _ECHO_WANT_WRITE, _ECHO_MORE, _ECHO_FLUSHED = range(4)


def _echo_on_readable(recv, send, pending):
    """Read and echo back; buffer what the kernel will not take now."""
    try:
        data = recv(65536)
    except BlockingIOError:
        return None
    except OSError:
        data = b""
    if not data:
        return _ECHO_CLOSE
    if pending:
        pending.append(data)
        return None
    try:
        sent = send(data)
    except BlockingIOError:
        sent = 0
    except OSError:
        return _ECHO_CLOSE
    if sent < len(data):
        pending.append(data[sent:])
        return _ECHO_WANT_WRITE
    return None


def _echo_on_writable(send, pending):
    """Flush the buffer: _ECHO_MORE while the kernel is full."""
    while pending:
        data = pending[0]
        try:
            sent = send(data)
        except BlockingIOError:
            return _ECHO_MORE
        except OSError:
            pending.clear()
            return _ECHO_CLOSE
        if sent < len(data):
            pending[0] = data[sent:]
            return _ECHO_MORE
        pending.pop(0)
    return _ECHO_FLUSHED


def _echo_accept_all(lsock, serve):
    while True:
        try:
            conn, _addr = lsock.accept()
        except (BlockingIOError, InterruptedError):
            return
        conn.setblocking(False)
        _tune(conn)
        serve(conn)


def _echo_server_classic(api, lsock):
    """Raw-socket echo server on ``add_handler``/``update_handler``."""
    loop = api.loop
    READ, WRITE = api.READ, api.WRITE

    def serve(conn):
        recv, send = conn.recv, conn.send
        pending = []

        def on_conn(fd, events):
            if events & WRITE:
                state = _echo_on_writable(send, pending)
                if state == _ECHO_FLUSHED:
                    loop.update_handler(conn, READ)
            else:
                state = _echo_on_readable(recv, send, pending)
                if state == _ECHO_WANT_WRITE:
                    loop.update_handler(conn, READ | WRITE)
            if state == _ECHO_CLOSE:
                loop.remove_handler(conn)
                conn.close()

        loop.add_handler(conn, on_conn, READ)

    loop.add_handler(lsock, lambda fd, events: _echo_accept_all(lsock, serve), READ)
    return lambda: loop.remove_handler(lsock)


def _echo_server_asyncio(api, lsock):
    """Raw-socket echo server on ``add_reader``/``add_writer``."""
    loop = api.loop

    def serve(conn):
        fd = conn.fileno()
        recv, send = conn.recv, conn.send
        pending = []

        def close():
            loop.remove_reader(fd)
            loop.remove_writer(fd)
            conn.close()

        def on_write():
            state = _echo_on_writable(send, pending)
            if state == _ECHO_FLUSHED:
                loop.remove_writer(fd)
            elif state == _ECHO_CLOSE:
                close()

        def on_read():
            state = _echo_on_readable(recv, send, pending)
            if state == _ECHO_WANT_WRITE:
                loop.add_writer(fd, on_write)
            elif state == _ECHO_CLOSE:
                close()

        loop.add_reader(fd, on_read)

    loop.add_reader(lsock.fileno(), _echo_accept_all, lsock, serve)
    return lambda: loop.remove_reader(lsock.fileno())


def _echo_server_protocol(loop, lsock):
    """``proto_echo``: an ``asyncio.Protocol`` whose ``data_received``
    writes the data back, served by ``loop.create_server(sock=...)``."""
    import asyncio

    class EchoProtocol(asyncio.Protocol):
        __slots__ = ("write",)

        def connection_made(self, transport):
            self.write = transport.write

        def data_received(self, data):
            self.write(data)

        def eof_received(self):
            return False    # close the transport

    server = loop.run_until_complete(loop.create_server(EchoProtocol, sock=lsock, backlog=1024))
    return server.close


def _echo_server_streams(loop, lsock):
    """``stream_echo``: ``asyncio.start_server``; each connection's task
    reads (``reader.read``), writes and awaits ``writer.drain()``."""
    import asyncio

    async def handle(reader, writer):
        read, write, drain = reader.read, writer.write, writer.drain
        try:
            while True:
                data = await read(65536)
                if not data:
                    break
                write(data)
                await drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def start():
        return await asyncio.start_server(handle, sock=lsock, backlog=1024)

    server = loop.run_until_complete(start())
    return server.close


def _echo_server_tornado(loop, lsock):
    """``tornado_echo``: a ``tornado.tcpserver.TCPServer`` on the asyncio
    loop under test (Tornado's ``IOLoop.current()`` wraps it); each stream
    echoes with ``read_bytes(64, partial=True)`` and ``await write``."""
    from tornado.iostream import StreamClosedError
    from tornado.tcpserver import TCPServer

    size = ECHO_SIZE

    class EchoServer(TCPServer):
        async def handle_stream(self, stream, address):
            read_bytes, write = stream.read_bytes, stream.write
            try:
                while True:
                    await write(await read_bytes(size, partial=True))
            except StreamClosedError:
                pass

    server = EchoServer()

    async def start():
        server.add_sockets([lsock])

    loop.run_until_complete(start())
    return server.stop


def _asyncio_teardown(loop, stop_server):
    """Stop serving, let the connections' last events run, cancel what is
    left (the stream and Tornado handlers of connections that are gone)."""
    import asyncio

    stop_server()

    async def settle():
        await asyncio.sleep(0.05)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    loop.run_until_complete(settle())


def _wl_echo(api, ms, harness, opts, extra, workload="echo"):
    """One echo server (``workload`` picks which; the floor is the C
    server) and one load generator process (C, or this module's
    ``--echo-load``) for the whole worker. Each run: the generator connects,
    primes every connection, loads the server for ``ms`` milliseconds (the
    warm-ups for at most ECHO_WARMUP_MS) and reports the replies it counted
    in that window; one value is seconds per request."""
    conns = opts.get("conns", ECHO_CONNS)
    size = opts.get("size", ECHO_SIZE)
    depth = opts.get("depth", ECHO_DEPTH)
    gen_kind = opts.get("gen", "c")
    c_dir = opts.get("c_dir")
    floor_bin = None
    if api is None:
        floor_bin = _c_tool("echo_server", c_dir)
        if floor_bin is None:
            raise _Skip("the C echo server could not be built (no C compiler?)")
    load_bin = _c_tool("echo_load", c_dir) if gen_kind == "c" else None
    if gen_kind == "c" and load_bin is None:
        raise RuntimeError("echo: the C load generator could not be built "
                           "(--echo-gen python uses the Python one)")
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1024)
    port = lsock.getsockname()[1]
    stall_ms = int(ECHO_STALL_TIMEOUT * 1000)
    if load_bin:
        cmd = [load_bin, str(port), str(conns), str(size), str(depth), str(stall_ms)]
    else:
        cmd = [sys.executable, "-m", "ioloop.bench", "--echo-load", str(port), str(conns),
               str(size), str(depth)]
    server_cpu, server_share, client = [], [], []
    floor = gen = None
    teardown = None
    pipe_fd = None
    state = {"buf": b"", "result": None}
    completed = False
    try:
        gen = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        pipe_fd = gen.stdout.fileno()
        if api is None:
            floor = subprocess.Popen([floor_bin, str(lsock.fileno())], pass_fds=(lsock.fileno(),),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
            if floor.stdout.readline().strip() != b"ready":
                raise RuntimeError("echo: the C floor server did not start")

            def floor_cpu():
                floor.stdin.write(b"cpu\n")
                return int(floor.stdout.readline())
        else:
            lsock.setblocking(False)
            if workload == "echo":
                stop_server = (_echo_server_classic if api.classic
                               else _echo_server_asyncio)(api, lsock)
                teardown = stop_server
            else:
                import asyncio
                asyncio.set_event_loop(api.loop)

                # What the loop logs (a failing callback or transport)
                # names the cause when a run fails; it still goes to stderr.
                def on_error(loop, context):
                    if "logged" not in state:
                        exc = context.get("exception")
                        state["logged"] = context.get("message", "") + (
                            f": {type(exc).__name__}: {exc}" if exc is not None else "")
                    loop.default_exception_handler(context)

                api.loop.set_exception_handler(on_error)
                start = {"proto_echo": _echo_server_protocol,
                         "stream_echo": _echo_server_streams,
                         "tornado_echo": _echo_server_tornado}[workload]
                stop_server = start(api.loop, lsock)

                def teardown():
                    _asyncio_teardown(api.loop, stop_server)

            # The generator's lines arrive on a pipe that the loop under
            # test watches like any other fd: the window's start and end
            # (the server's CPU clock is read then), then the report, which
            # stops the loop.
            def on_report(_fd=None, _events=None):
                try:
                    chunk = os.read(pipe_fd, 65536)
                except BlockingIOError:
                    return      # a wake-up with nothing to read
                if not chunk:
                    state["result"] = {"error": "the load generator exited"}
                    api.remove_reader(pipe_fd)
                    api.stop()
                    return
                state["buf"] += chunk
                while b"\n" in state["buf"]:
                    line, _, state["buf"] = state["buf"].partition(b"\n")
                    msg = json.loads(line)
                    event = msg.get("event")
                    if event:
                        state[event] = time.process_time_ns()
                        state[event + "_sched"] = _sched_ns()
                    else:
                        state["result"] = msg
                        api.stop()

            # Non-blocking: a loop may call a reader when an earlier call
            # has already drained the pipe (a readiness reported before that
            # read); a blocking read would then wait for the generator, which
            # waits for the next command (a worker hung so once, on rloop).
            os.set_blocking(pipe_fd, False)
            api.add_reader(pipe_fd, on_report)

        def run_once(run_ms):
            state.update(result=None, start=None, end=None)
            gen.stdin.write(f"run {run_ms}\n".encode())
            if api is None:
                while True:
                    line = gen.stdout.readline()
                    msg = json.loads(line) if line else {"error": "the load generator exited"}
                    event = msg.get("event")
                    if not event:
                        state["result"] = msg
                        break
                    state[event] = floor_cpu()
                    state[event + "_sched"] = _sched_ns(floor.pid)
            else:
                api.run()
            result = state["result"]
            if not result or "error" in result:
                logged = (f"; the loop logged: {state['logged']}" if state.get("logged")
                          else "")
                raise RuntimeError(f"{workload}: load generator failed: {result}{logged}")
            if not result.get("requests", 0) > 0:
                raise RuntimeError(f"{workload}: no request answered: {result}")
            if state["start"] is None or state["end"] is None:
                raise RuntimeError(f"{workload}: the generator did not announce its window")
            result["wait_share"] = _wait_share(state.get("start_sched"),
                                               state.get("end_sched"), result["elapsed_ns"])
            return result, state["end"] - state["start"]

        warmups = []
        for _ in range(harness.warmups):
            result, _cpu = run_once(min(ms, ECHO_WARMUP_MS))
            warmups.append(result["elapsed_ns"] / 1e9 / result["requests"])
        values = []
        t0 = time.perf_counter()
        for _ in range(harness.values):
            result, cpu = run_once(ms)
            values.append(result["elapsed_ns"] / 1e9 / result["requests"])
            client.append(result)
            server_cpu.append(cpu / result["requests"])
            server_share.append(cpu / result["elapsed_ns"])
        duration = time.perf_counter() - t0
        completed = True
    finally:
        if api is not None and pipe_fd is not None:
            with contextlib.suppress(Exception):
                api.remove_reader(pipe_fd)
        if teardown is not None:
            if completed:
                teardown()
            else:
                # Do not hide the error that got us here.
                with contextlib.suppress(Exception):
                    teardown()
        for proc in (gen, floor):
            if proc is None:
                continue
            with contextlib.suppress(OSError):
                proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        lsock.close()
    extra.update(conns=conns, size=size, depth=depth,
                 generator="c" if load_bin else "python",
                 server="c" if api is None else workload,
                 requests=[r["requests"] for r in client],
                 server_cpu_ns_per_req=server_cpu,
                 server_cpu_share=server_share,
                 server_wait_share=[r.get("wait_share") for r in client],
                 client_cpu_share=[r["cpu_ns"] / r["elapsed_ns"] for r in client],
                 # Round-trip percentiles of each run (ns; the C generator's).
                 latency=[r["rtt"] for r in client if r.get("rtt")])
    return [harness.record(workload, values, "second", ms, duration, warmups=warmups,
                           inner_loops=False)]


def _wl_proto_echo(api, ms, harness, opts, extra):
    return _wl_echo(api, ms, harness, opts, extra, workload="proto_echo")


def _wl_stream_echo(api, ms, harness, opts, extra):
    return _wl_echo(api, ms, harness, opts, extra, workload="stream_echo")


def _wl_tornado_echo(api, ms, harness, opts, extra):
    try:
        import tornado.tcpserver  # noqa: F401
    except ImportError as exc:
        raise _Skip(f"needs tornado, not installed ({exc})") from None
    return _wl_echo(api, ms, harness, opts, extra, workload="tornado_echo")
