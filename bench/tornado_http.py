"""Tornado hello-world over HTTP on ioloop, asyncio, uvloop and rloop, under load.

    python bench/tornado_http.py                      # all loops, wrk if installed
    python bench/tornado_http.py --loops ioloop,asyncio --duration 10 --repeat 5
    python bench/tornado_http.py --client python      # no wrk: the built-in client

Each loop serves the same ``tornado.web.Application`` (one handler writing
"Hello, world") from its own process on 127.0.0.1; the load comes from
``wrk`` (``apt-get install wrk``) or, without it, from a small keep-alive
HTTP/1.1 client in plain Python in another process (which then is likely
the bottleneck: it measures less). Runs are interleaved across loops and
repeated; the table shows the median requests per second, the spread and
the ratio to ioloop. Tornado runs as its users run it on asyncio: the
server process calls ``asyncio.run(main(), loop_factory=...)`` (or
``loop.run_until_complete``) with the loop under test, and Tornado's
``IOLoop.current()`` wraps it.

It measures the ioloop that ``import ioloop`` gives (``pip install .``
first; nothing is taken from a source tree's ``src/``), prints its version,
engine and directory, and checks that every server process ran that one.
When that ioloop's compiled engine did not build or load, it refuses to
measure it (it would be the pure-Python engine) unless
``--allow-python-engine`` (or ``IOLOOP_NO_EXTENSIONS=1``) asks for that
engine. A loop that is not installed (uvloop, rloop) is skipped; Tornado
itself is required.

This is heavier than ``python -m ioloop.bench`` (an HTTP stack and a C load
generator); it is not part of the package and not run by the tests.
"""

import argparse
import json
import os
import random
import re
import select
import shutil
import socket
import statistics
import subprocess
import sys
import time

LOOPS = ("ioloop", "asyncio", "uvloop", "rloop")


def _ioloop_identity():
    from ioloop.bench import api as bench_api
    ident = bench_api.ioloop_identity()
    return {k: ident[k] for k in ("implementation", "file", "engine_file")}


def _new_loop(name):
    if name == "ioloop":
        import ioloop
        return ioloop.new_event_loop()
    if name == "asyncio":
        import asyncio
        return asyncio.new_event_loop()
    if name == "uvloop":
        import uvloop
        return uvloop.new_event_loop()
    if name == "rloop":
        import rloop
        return rloop.new_event_loop()
    raise ValueError(name)


def serve(name):
    """Server process: print the port, serve until stdin closes."""
    import asyncio

    import tornado.web

    class Hello(tornado.web.RequestHandler):
        def get(self):
            self.write("Hello, world")

    async def main():
        import tornado.ioloop

        app = tornado.web.Application([(r"/", Hello)])
        server = app.listen(0, address="127.0.0.1")
        port = next(iter(server._sockets.values())).getsockname()[1]
        running = asyncio.get_running_loop()
        current = tornado.ioloop.IOLoop.current()
        # What Tornado runs on: the loop under test, through its asyncio API.
        sys.stdout.write(json.dumps({
            "port": port,
            "loop": f"{type(running).__module__}.{type(running).__qualname__}",
            "tornado_ioloop": type(current).__name__,
            "wraps_running_loop": getattr(current, "asyncio_loop", None) is running,
            "ioloop": _ioloop_identity() if name == "ioloop" else None,
        }) + "\n")
        sys.stdout.flush()
        done = asyncio.get_running_loop().create_future()
        # Stop when the parent closes our stdin.
        asyncio.get_running_loop().add_reader(sys.stdin.fileno(), lambda: done.done()
                                              or done.set_result(None))
        await done
        server.stop()

    loop = _new_loop(name)
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main())
    finally:
        loop.close()


def python_client(port, conns, duration):
    """Keep-alive HTTP/1.1 GETs on ``conns`` connections for ``duration``
    seconds, one request in flight each. Prints {"requests", "seconds"}."""
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    ep = select.epoll()
    socks = {}
    bufs = {}
    for _ in range(conns):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        socks[s.fileno()] = s
        bufs[s.fileno()] = b""
        ep.register(s.fileno(), select.EPOLLIN)
    done = 0
    t0 = time.perf_counter()
    deadline = t0 + duration
    for s in socks.values():
        s.send(request)
    length = re.compile(rb"Content-Length: (\d+)", re.I)
    while time.perf_counter() < deadline:
        for fd, _ev in ep.poll(1.0):
            s = socks[fd]
            data = s.recv(65536)
            if not data:
                raise SystemExit("server closed a connection")
            buf = bufs[fd] + data
            while True:
                head, sep, rest = buf.partition(b"\r\n\r\n")
                if not sep:
                    break
                m = length.search(head)
                size = int(m.group(1)) if m else 0
                if len(rest) < size:
                    break
                buf = rest[size:]
                done += 1
                s.send(request)
            bufs[fd] = buf
    elapsed = time.perf_counter() - t0
    for s in socks.values():
        s.close()
    print(json.dumps({"requests": done, "seconds": elapsed}))


def _measure(name, client, conns, duration, threads, expected):
    server = subprocess.Popen([sys.executable, __file__, "--serve", name],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        if not line:
            raise RuntimeError(f"{name}: server did not start")
        info = json.loads(line)
        port = info["port"]
        if not info["loop"].startswith(name) or not info["wraps_running_loop"]:
            raise RuntimeError(f"{name}: Tornado is not running on the {name} loop: {info}")
        if name == "ioloop" and info["ioloop"] != expected:
            raise RuntimeError(f"the server ran the ioloop {info['ioloop']}, not {expected}")
        if client == "wrk":
            proc = subprocess.run(["wrk", f"-t{threads}", f"-c{conns}",
                                   f"-d{max(1, round(duration))}s", f"http://127.0.0.1:{port}/"],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"{name}: wrk failed ({proc.returncode}): "
                                   f"{proc.stderr.strip() or proc.stdout.strip()}")
            out = proc.stdout
            m = re.search(r"Requests/sec:\s*([\d.]+)", out)
            errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
            if not m:
                raise RuntimeError(f"{name}: cannot read wrk output:\n{out}")
            if errors:
                raise RuntimeError(f"{name}: wrk reported errors:\n{out}")
            return float(m.group(1)), info
        out = subprocess.run([sys.executable, __file__, "--load", str(port), str(conns),
                              str(duration)], capture_output=True, text=True, check=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        return result["requests"] / result["seconds"], info
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _available(name):
    try:
        _new_loop(name).close()
    except ImportError as exc:
        return f"not installed ({exc})"
    return None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--loops", default=",".join(LOOPS),
                   help=f"comma-separated loops (default: {','.join(LOOPS)})")
    p.add_argument("--client", choices=("auto", "wrk", "python"), default="auto",
                   help="load generator (default: wrk when installed)")
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--threads", type=int, default=1,
                   help="wrk threads (default 1: on 2 cores the server needs the other)")
    p.add_argument("--duration", type=int, default=5, help="seconds per run (default 5)")
    p.add_argument("--repeat", type=int, default=3, help="runs per loop (default 3)")
    p.add_argument("--allow-python-engine", action="store_true",
                   help="measure ioloop even when its compiled engine did not load (it then "
                        "runs the pure-Python engine, and says so)")
    p.add_argument("--serve", help=argparse.SUPPRESS)
    p.add_argument("--load", nargs=3, metavar=("PORT", "CONNS", "SECONDS"),
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    if args.load:
        python_client(int(args.load[0]), int(args.load[1]), float(args.load[2]))
        return 0
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    loops = [x for x in args.loops.split(",") if x]
    unknown = [x for x in loops if x not in LOOPS]
    if unknown:
        p.error(f"unknown loop(s) {', '.join(unknown)}; choose from {', '.join(LOOPS)}")
    try:
        import tornado
        tornado_version = tornado.version
    except ImportError:
        print("Tornado is not installed (pip install tornado)", file=sys.stderr)
        return 2
    from ioloop.bench import api as bench_api
    ident = bench_api.ioloop_identity()
    if "ioloop" in loops and not args.allow_python_engine:
        refusal = bench_api.python_engine_refusal(ident, what="the ioloop row")
        if refusal:
            print(bench_api.wrap(f"{p.prog}: not measuring: {refusal}", bench_api.WIDTH),
                  file=sys.stderr)
            return 2
    skipped = {name: why for name in loops if (why := _available(name))}
    runnable = [name for name in loops if name not in skipped]
    print(bench_api.wrap(f"Tornado {tornado_version} hello world, {client}"
                      + (" (wrk not found: apt-get install wrk for a faster load generator)"
                         if client == "python" and args.client == "auto" else "")
                      + f", {args.connections} connections, {args.duration:g}s x "
                      f"{args.repeat} per loop, Python {sys.version.split()[0]}, "
                      f"nproc={len(os.sched_getaffinity(0))}", bench_api.WIDTH, "  ", ""))
    print(bench_api.wrap(f"ioloop {ident['version']}, {bench_api.engine_text(ident)}, from "
                      f"{os.path.dirname(ident['file'])}", bench_api.WIDTH, "  ", ""))
    if ident["implementation"] != "cython" and "ioloop" in loops:
        print(bench_api.wrap(f"WARNING: the ioloop row runs the {bench_api.engine_text(ident)}; not "
                          "the compiled one", bench_api.WIDTH, "  ", ""))
    expected = {k: ident[k] for k in ("implementation", "file", "engine_file")}
    results = {name: [] for name in runnable}
    errors = {}
    for rnd in range(args.repeat):
        order = runnable[:]
        random.shuffle(order)
        for name in order:
            if name in errors:
                continue
            try:
                rps, info = _measure(name, client, args.connections, args.duration,
                                     args.threads, expected)
            except (RuntimeError, subprocess.CalledProcessError, OSError, ValueError) as exc:
                errors[name] = str(exc)
                print(f"  round {rnd + 1} {name}: ERROR {exc}", file=sys.stderr)
                continue
            results[name].append(rps)
            print(f"  round {rnd + 1} {name:<8} {rps:>10,.0f} req/s  (Tornado "
                  f"{info['tornado_ioloop']} on {info['loop']})", file=sys.stderr, flush=True)
    base = statistics.median(results["ioloop"]) if results.get("ioloop") else None
    print(f"\n{'loop':<8}  {'median req/s':>12}  {'min - max':>19}  {'vs ioloop':>9}")
    for name in loops:
        if name in skipped:
            print(f"{name:<8}  skipped: {skipped[name]}")
        elif name in errors:
            print(f"{name:<8}  ERROR: {errors[name]}")
        elif results[name]:
            values = results[name]
            med = statistics.median(values)
            ratio = f"{med / base:.2f}x" if base else "-"
            print(f"{name:<8}  {med:>12,.0f}  {min(values):>8,.0f} - {max(values):>8,.0f}"
                  f"  {ratio:>9}")
    print("\nvs ioloop: throughput / ioloop's (above 1.00x serves more than ioloop).")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
