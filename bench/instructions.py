"""User-space instructions per operation under callgrind: a measurement a
noisy, shared machine cannot skew.

    python bench/instructions.py                           # all workloads and loops
    python bench/instructions.py --loops ioloop,rloop --workloads chain

Wall-clock medians on a shared 2-core VM swing by 2x between rounds; the
instruction count of the same work does not. Each (loop, workload) runs
twice under ``valgrind --tool=callgrind`` with a small and a large amount of
work; the difference in instructions over the difference in operations is
the cost of one operation, start-up excluded. It counts user-space
instructions only: the kernel's share (the TCP stack, most of an echo
request) is not in it, and neither are cache misses or syscalls' cost.

Workloads:
  chain        each callback schedules the next (add_callback for ioloop's
               classic API, call_soon for the asyncio loops)
  callbacks    N callbacks scheduled, then run
  proto_echo   asyncio.Protocol echo server (create_server), 100 connections,
               64-byte messages, driven by ``python -m ioloop.bench``'s C load
               generator; instructions per request in the server process
  stream_echo  the same with asyncio streams (start_server, read, write,
               drain)

Needs valgrind (``apt-get install valgrind``) and, for the echo workloads, a
C compiler. Takes a few minutes: everything runs about 50x slower under
callgrind.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
if os.path.isdir(os.path.join(SRC, "ioloop")):
    sys.path.insert(0, SRC)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")]))

LOOPS = ("ioloop", "ioloop-asyncio", "uvloop", "rloop", "asyncio")
WORKLOADS = ("chain", "callbacks", "proto_echo", "stream_echo")
SIZES = {"chain": (10_000, 60_000), "callbacks": (10_000, 60_000)}
ECHO_MS = (1_500, 4_500)
ECHO_LOOPS_SKIP = {"ioloop"}  # the classic API has no create_server


def _worker_callbacks(kind, workload, n):
    from ioloop import bench
    api = bench._make_api(kind)
    if workload == "chain":
        left = bench._chain(api, n)
        if left:
            raise SystemExit(f"chain: {n - left} of {n} steps ran")
        return

    def noop():
        pass

    soon = api.soon
    for _ in range(n):
        soon(noop)
    soon(api.stop)
    api.run()


def _worker_echo(kind, workload, seconds):
    import asyncio
    from ioloop import bench
    loop = bench._make_api(kind, asyncio_api=True).loop
    asyncio.set_event_loop(loop)

    async def handle(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    class Echo(asyncio.Protocol):
        def connection_made(self, transport):
            self.write = transport.write

        def data_received(self, data):
            self.write(data)

    async def main():
        if workload == "stream_echo":
            server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        else:
            server = await loop.create_server(Echo, "127.0.0.1", 0, backlog=1024)
        print("ready", server.sockets[0].getsockname()[1], flush=True)
        # The parent closes our stdin when the load generator is done.
        done = loop.create_future()
        loop.add_reader(sys.stdin.fileno(), lambda: done.done() or done.set_result(None))
        await asyncio.wait_for(done, seconds)
        loop.remove_reader(sys.stdin.fileno())
        server.close()

    loop.run_until_complete(main())


def _collected(stderr):
    m = re.search(r"Collected : (\d+)", stderr)
    if not m:
        raise RuntimeError("callgrind reported no instruction count:\n" + stderr[-2000:])
    return int(m.group(1))


def _valgrind(args):
    return ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
            sys.executable, os.path.abspath(__file__), "--worker"] + args


def _measure_callbacks(kind, workload):
    counts = []
    for n in SIZES[workload]:
        proc = subprocess.run(_valgrind([kind, workload, str(n)]), capture_output=True,
                              text=True, timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        counts.append(_collected(proc.stderr))
    small, large = SIZES[workload]
    return (counts[1] - counts[0]) / (large - small), "instructions per callback"


def _measure_echo(kind, workload, load_bin):
    points = []
    for ms in ECHO_MS:
        server = subprocess.Popen(_valgrind([kind, workload, str(ms / 1000 + 120)]),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            line = server.stdout.readline()
            if not line.startswith("ready"):
                raise RuntimeError(f"{kind} {workload}: the server did not start: "
                                   + server.stderr.read()[-2000:])
            port = line.split()[1]
            load = subprocess.run([load_bin, port, "100", "64", "1", "60000"],
                                  input=f"run {ms}\n", capture_output=True, text=True,
                                  timeout=300)
            m = re.search(r'"requests": (\d+)', load.stdout)
            if not m:
                raise RuntimeError(f"load generator: {load.stdout[-500:]} {load.stderr[-500:]}")
            requests = int(m.group(1))
        finally:
            # communicate() closes the server's stdin: its cue to stop.
            _out, err = server.communicate(timeout=300)
        points.append((requests, _collected(err)))
    (r0, i0), (r1, i1) = points
    if r1 <= r0:
        raise RuntimeError(f"{kind} {workload}: the longer run answered no more requests")
    return (i1 - i0) / (r1 - r0), "instructions per request"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--loops", default=",".join(LOOPS))
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        kind, workload, amount = args.worker
        if workload in SIZES:
            _worker_callbacks(kind, workload, int(amount))
        else:
            _worker_echo(kind, workload, float(amount))
        return 0
    if subprocess.run(["valgrind", "--version"], capture_output=True).returncode != 0:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    loops = [x for x in args.loops.split(",") if x]
    workloads = [x for x in args.workloads.split(",") if x]
    for name in loops:
        if name not in LOOPS:
            p.error(f"unknown loop {name!r} (choose from {', '.join(LOOPS)})")
    for name in workloads:
        if name not in WORKLOADS:
            p.error(f"unknown workload {name!r} (choose from {', '.join(WORKLOADS)})")
    load_bin = None
    if any(w.endswith("_echo") for w in workloads):
        from ioloop import bench
        tools = bench._build_c_tools(tempfile.mkdtemp(prefix="ioloop-instr-"))
        if not tools["ok"]:
            print(f"echo workloads skipped: {tools['error']}", file=sys.stderr)
            workloads = [w for w in workloads if not w.endswith("_echo")]
        else:
            load_bin = os.path.join(tools["dir"], "echo_load")
    print(f"python {sys.version.split()[0]}; user-space instructions per operation "
          f"under callgrind (difference of two run sizes)")
    rows = []
    t0 = time.monotonic()
    for workload in workloads:
        base = None
        for kind in loops:
            if workload.endswith("_echo") and kind in ECHO_LOOPS_SKIP:
                continue
            try:
                __import__({"uvloop": "uvloop", "rloop": "rloop"}.get(kind, "asyncio"))
            except ImportError:
                print(f"  {workload:12} {kind:15} skipped (not installed)", flush=True)
                continue
            try:
                if workload in SIZES:
                    value, unit = _measure_callbacks(kind, workload)
                else:
                    value, unit = _measure_echo(kind, workload, load_bin)
            except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
                print(f"  {workload:12} {kind:15} ERROR: {exc}", flush=True)
                continue
            base = base or value
            rows.append((workload, kind, value, unit, value / base))
            print(f"  {workload:12} {kind:15} {value:>10,.0f}  {unit}  "
                  f"({time.monotonic() - t0:.0f} s)", flush=True)
    print()
    print(f"{'workload':12} {'loop':15} {'instructions':>12}  vs first")
    for workload, kind, value, unit, ratio in rows:
        print(f"{workload:12} {kind:15} {value:>12,.0f}  {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
