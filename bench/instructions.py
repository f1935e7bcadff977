"""User-space instructions per operation under callgrind: a measurement a
noisy, shared machine cannot skew.

    python bench/instructions.py                           # all workloads and loops
    python bench/instructions.py --loops ioloop,rloop --workloads chain
    python bench/instructions.py --loops ioloop,ioloop-watchdog --workloads chain,callbacks

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

and, when named with --workloads, the application servers of
``python -m ioloop.bench --group app`` (uvicorn, aiohttp, aiohttp_64k,
httptools_proto, tornado_http): the server process's instructions per
HTTP request under the C HTTP load generator, and where they go: the
share in the loop's own compiled code (ioloop's engine, uvloop's and
rloop's extension modules; asyncio's C accelerator) and in the Python
interpreter (the framework's Python code, and the loop's where it is
Python: ioloop's asyncio face and asyncio itself run there too). When the
loops' instructions per request are close and the loop's own code is a
small share, the framework bounds every loop.

It measures the ioloop that ``import ioloop`` gives (``pip install .``
first; nothing is taken from a source tree's ``src/``) and prints its
version, its engine and where it was imported from. When that ioloop's
compiled engine did not build or load, it refuses to measure the ioloop
rows (they would count the pure-Python engine's instructions) unless
``--allow-python-engine`` (or ``IOLOOP_NO_EXTENSIONS=1``) asks for that
engine. A loop that is not installed (uvloop, rloop) is skipped with a note.

``ioloop-watchdog``, measured only when named, is the ioloop loop with the
blocked-loop watchdog on (``set_blocking_threshold(0.1)``), for chain and
callbacks: listed after ``ioloop``, its "vs first" is the watchdog's cost.
Callgrind counts every thread's instructions, the watchdog thread's too:
it wakes every 25 ms of wall time, and each operation takes ~50x longer
under callgrind, so if anything its share is overstated here.

Needs valgrind (``apt-get install valgrind``) and, for the echo workloads, a
C compiler. Takes a few minutes: everything runs about 50x slower under
callgrind.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

LOOPS = ("ioloop", "ioloop-asyncio", "uvloop", "rloop", "asyncio")
# Measured when named: ioloop with the blocked-loop watchdog on, for the
# callback workloads (SIZES) only.
OPT_IN_LOOPS = ("ioloop-watchdog",)
WORKLOADS = ("chain", "callbacks", "proto_echo", "stream_echo")
# Measured when named: the application servers of python -m ioloop.bench.
APP_WORKLOADS = ("httptools_proto", "aiohttp", "aiohttp_64k", "uvicorn", "tornado_http")
SIZES = {"chain": (10_000, 60_000), "callbacks": (10_000, 60_000)}
ECHO_MS = (1_500, 4_500)
ECHO_LOOPS_SKIP = {"ioloop"}  # the classic API has no create_server
# The application workloads: a fixed number of requests per run (the load
# generator's "count" mode), not a time window, whose request count would
# follow the machine's load while callgrind slows the server 50x.
APP_REQUESTS = (1_000, 5_000)
# The loop's own compiled code, per loop: the objects whose instructions
# are its own (a substring of the object's path).
LOOP_OBJECTS = {"ioloop-asyncio": "/ioloop/_core.", "uvloop": "/uvloop/loop.",
                "rloop": "/rloop/_rloop.", "asyncio": "/_asyncio."}
SERVER_START_TIMEOUT = 600
# The module each loop needs besides ioloop.
LOOP_MODULES = {"uvloop": "uvloop", "rloop": "rloop"}
# The modules each application workload needs.
APP_MODULES = {"uvicorn": ("uvicorn", "httptools"), "aiohttp": ("aiohttp",),
               "aiohttp_64k": ("aiohttp",), "httptools_proto": ("httptools",),
               "tornado_http": ("tornado",)}


def _identity():
    """This process's ioloop and engine, as one JSON line for the parent."""
    from ioloop.bench import api as bench_api
    ident = bench_api.ioloop_identity()
    return json.dumps({k: ident[k] for k in ("implementation", "file", "engine_file")})


def _check_identity(kind, text, expected):
    """A worker of an ioloop row must have run the ioloop (and engine) that
    the parent reported."""
    if not kind.startswith("ioloop"):
        return
    try:
        ident = json.loads(text)
    except ValueError:
        raise RuntimeError(f"{kind}: the worker did not say which ioloop it ran: "
                           f"{text[-300:]!r}") from None
    for key in ("implementation", "file", "engine_file"):
        if ident.get(key) != expected.get(key):
            raise RuntimeError(f"{kind}: the worker ran {key}={ident.get(key)!r}, "
                               f"not {expected.get(key)!r}")


def _worker_callbacks(kind, workload, n):
    from ioloop.bench import api as bench_api
    print(_identity(), flush=True)
    api = bench_api.loop_api(kind)
    if kind == "ioloop-watchdog" and api.loop.get_blocking_threshold() is None:
        raise SystemExit("ioloop-watchdog: the watchdog is off")
    if workload == "chain":
        left = bench_api.chain(api, n)
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
    from ioloop.bench import api as bench_api
    loop = bench_api.loop_api(kind, asyncio_api=True).loop
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
        print("ready", server.sockets[0].getsockname()[1], _identity(), flush=True)
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


def _measure_callbacks(kind, workload, expected):
    counts = []
    for n in SIZES[workload]:
        proc = subprocess.run(_valgrind([kind, workload, str(n)]), capture_output=True,
                              text=True, timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        _check_identity(kind, (proc.stdout.strip().splitlines() or [""])[0], expected)
        counts.append(_collected(proc.stderr))
    small, large = SIZES[workload]
    return (counts[1] - counts[0]) / (large - small), "instructions per callback"


def _objects_self_cost(path):
    """Instructions by object (shared library or executable) in a callgrind
    output file: the self cost of every function, summed per object."""
    costs = {}
    names = {}
    current = None
    after_call = False
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith(("ob=", "cob=")):
                # "(id) name" the first time an object is named (by either
                # line), "(id)" after that.
                spec = line.partition("=")[2].strip()
                name = spec
                if spec.startswith("("):
                    ident, _, name = spec.partition(")")
                    name = name.strip()
                    if name:
                        names[ident] = name
                    name = names.get(ident, ident)
                if line.startswith("ob="):
                    current = name
                continue
            if line.startswith("calls="):
                after_call = True      # the next cost line is the call's inclusive cost
                continue
            if line[:1].isdigit() or line[:1] in "+-*":
                if after_call:
                    after_call = False
                    continue
                parts = line.split()
                if len(parts) >= 2:
                    costs[current] = costs.get(current, 0) + int(parts[1])
    return costs


def _empty_dir(tmp):
    path = os.path.join(tmp, "cwd")
    os.makedirs(path, exist_ok=True)
    return path


def _measure_app(kind, workload, http_load, expected, tmp, keep_dir=None):
    """The application server's instructions per request, and the shares
    of the loop's own code and of the interpreter in the difference
    between a short and a long run. ``keep_dir``: keep callgrind's output
    files there (``callgrind.LOOP.WORKLOAD.REQUESTS``, with the responses
    each run answered in ``.requests``), for callgrind_annotate."""
    from ioloop.bench import api as bench_api
    points = []
    for count in APP_REQUESTS:
        out = os.path.join(keep_dir or tmp, f"callgrind.{kind}.{workload}.{count}")
        # In an empty directory: "python -m" puts the current directory on
        # sys.path, and every import lists it (a busy /tmp would add its
        # listing's instructions, different in each run).
        server = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={os.path.abspath(out)}"]
            + bench_api.app_server_command(workload, kind),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=_empty_dir(tmp))
        try:
            line = server.stdout.readline()
            if not line.startswith("{"):
                raise RuntimeError(f"{kind} {workload}: the server did not start: "
                                   + server.stderr.read()[-2000:])
            port = json.loads(line)["port"]
            status, body = bench_api.http_get(port, "/loop", SERVER_START_TIMEOUT)
            info = json.loads(body)
            if status != 200 or not info["loop_type"].startswith(kind.split("-")[0] + "."):
                raise RuntimeError(f"{kind} {workload}: served by {info}")
            if kind.startswith("ioloop"):
                _check_identity(kind, json.dumps(info["ioloop"]), expected)
            load = subprocess.run(
                [http_load, str(port), "100", "/", str(bench_api.app_body_len(workload)),
                 "120000"], input=f"count {count}\n", capture_output=True, text=True,
                timeout=900)
            result = json.loads(load.stdout.strip().splitlines()[-1]) if load.stdout else {}
            if "error" in result or result.get("requests") != count:
                raise RuntimeError(f"load generator: {load.stdout[-500:]} {load.stderr[-500:]}")
        finally:
            # Closing its stdin ends the server; callgrind then writes out.
            _out, err = server.communicate(timeout=900)
        # The GET /loop above is one more request.
        points.append((result["responses"] + 1, _collected(err), _objects_self_cost(out)))
        if keep_dir:
            with open(out + ".requests", "w") as f:
                f.write(f"{result['responses'] + 1}\n")
        else:
            os.unlink(out)
    (r0, i0, o0), (r1, i1, o1) = points
    if r1 <= r0:
        raise RuntimeError(f"{kind} {workload}: the longer run answered no more requests")
    per_request = (i1 - i0) / (r1 - r0)
    delta = {obj: o1.get(obj, 0) - o0.get(obj, 0) for obj in set(o0) | set(o1)}
    total = sum(delta.values()) or 1
    loop_share = sum(v for obj, v in delta.items() if LOOP_OBJECTS[kind] in obj) / total
    interpreter = sum(v for obj, v in delta.items() if "libpython" in obj
                      or os.path.realpath(sys.executable) == os.path.realpath(obj)) / total
    note = (f"loop's compiled code {loop_share * 100:.0f}%, interpreter {interpreter * 100:.0f}%")
    return per_request, "instructions per request", note


def _measure_echo(kind, workload, load_bin, expected):
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
            _ready, port, ident = line.split(maxsplit=2)
            _check_identity(kind, ident, expected)
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
    p.add_argument("--loops", default=",".join(LOOPS),
                   help=f"comma-separated loops (default: {','.join(LOOPS)}; also, for "
                        f"chain and callbacks: {','.join(OPT_IN_LOOPS)}, ioloop with the "
                        "blocked-loop watchdog on)")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help=f"comma-separated workloads (default: {','.join(WORKLOADS)}; also: "
                        f"{','.join(APP_WORKLOADS)})")
    p.add_argument("--allow-python-engine", action="store_true",
                   help="measure the ioloop rows even when ioloop's compiled engine did not "
                        "load (they then count the pure-Python engine, and say so)")
    p.add_argument("--callgrind-dir", metavar="DIR",
                   help="keep the application workloads' callgrind output files in DIR "
                        "(callgrind.LOOP.WORKLOAD.REQUESTS, one per run size; the responses "
                        "each answered in the .requests file beside it), for "
                        "callgrind_annotate")
    p.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        kind, workload, amount = args.worker
        if workload in SIZES:
            _worker_callbacks(kind, workload, int(amount))
        else:
            _worker_echo(kind, workload, float(amount))
        return 0
    loops = [x for x in args.loops.split(",") if x]
    workloads = [x for x in args.workloads.split(",") if x]
    for name in loops:
        if name not in LOOPS + OPT_IN_LOOPS:
            p.error(f"unknown loop {name!r} (choose from {', '.join(LOOPS + OPT_IN_LOOPS)})")
    for name in workloads:
        if name not in WORKLOADS + APP_WORKLOADS:
            p.error(f"unknown workload {name!r} (choose from "
                    f"{', '.join(WORKLOADS + APP_WORKLOADS)})")
    if args.callgrind_dir:
        os.makedirs(args.callgrind_dir, exist_ok=True)
    from ioloop.bench import api as bench_api
    ident = bench_api.ioloop_identity()
    if any(kind.startswith("ioloop") for kind in loops) and not args.allow_python_engine:
        refusal = bench_api.python_engine_refusal(ident)
        if refusal:
            print(bench_api.wrap(f"{p.prog}: not measuring: {refusal}", bench_api.WIDTH),
                  file=sys.stderr)
            return 2
    try:
        valgrind = subprocess.run(["valgrind", "--version"], capture_output=True, text=True)
    except OSError:
        valgrind = None
    if valgrind is None or valgrind.returncode != 0:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    skipped = {}
    for kind in loops:
        module = LOOP_MODULES.get(kind)
        if module:
            try:
                __import__(module)
            except ImportError:
                skipped[kind] = "not installed"
    missing = {}
    for workload in workloads:
        for module in APP_MODULES.get(workload, ()):
            try:
                __import__(module)
            except ImportError:
                missing[workload] = f"needs {module}, not installed"
                break
    load_bin = http_load = None
    echo_note = None
    tmp = tempfile.mkdtemp(prefix="ioloop-instr-")
    timed = [w for w in workloads if w.endswith("_echo") or w in APP_WORKLOADS]
    if timed:
        tools = bench_api.build_c_tools(
            tmp, (["echo_load"] if any(w.endswith("_echo") for w in timed) else [])
            + (["http_load"] if any(w in APP_WORKLOADS for w in timed) else []))
        if not tools["ok"]:
            echo_note = f"{', '.join(timed)} skipped: {tools['error']}"
            print(echo_note, file=sys.stderr)
            workloads = [w for w in workloads if w not in timed]
        else:
            load_bin = bench_api.c_tool_path(tools, "echo_load")
            http_load = bench_api.c_tool_path(tools, "http_load")
    print(f"python {sys.version.split()[0]}, {valgrind.stdout.strip()}; user-space "
          "instructions per operation under callgrind (difference of two run sizes)")
    print(bench_api.wrap(f"ioloop {ident['version']}, {bench_api.engine_text(ident)}, from "
                      f"{os.path.dirname(ident['file'])}", bench_api.WIDTH, "  ", ""))
    if ident["implementation"] != "cython" and any(k.startswith("ioloop") for k in loops):
        print(bench_api.wrap(f"WARNING: the ioloop rows count the {bench_api.engine_text(ident)}; "
                          "not the compiled one", bench_api.WIDTH, "  ", ""))
    rows = []
    t0 = time.monotonic()
    for workload in workloads:
        base = None
        for kind in loops:
            if (workload.endswith("_echo") or workload in APP_WORKLOADS) \
                    and kind in ECHO_LOOPS_SKIP:
                continue
            reason = skipped.get(kind) or missing.get(workload)
            if kind in OPT_IN_LOOPS and workload not in SIZES:
                reason = "chain and callbacks only"
            if reason:
                rows.append((workload, kind, None, f"skipped ({reason})", None, ""))
                print(f"  {workload:15} {kind:15} skipped ({reason})", flush=True)
                continue
            note = ""
            try:
                if workload in SIZES:
                    value, unit = _measure_callbacks(kind, workload, ident)
                elif workload in APP_WORKLOADS:
                    value, unit, note = _measure_app(kind, workload, http_load, ident, tmp,
                                                     args.callgrind_dir)
                else:
                    value, unit = _measure_echo(kind, workload, load_bin, ident)
            except (RuntimeError, subprocess.SubprocessError, OSError, ValueError,
                    KeyError) as exc:
                rows.append((workload, kind, None, "ERROR (above)", None, ""))
                print(f"  {workload:15} {kind:15} ERROR: {exc}", flush=True)
                continue
            base = base or value
            rows.append((workload, kind, value, unit, value / base, note))
            print(f"  {workload:15} {kind:15} {value:>10,.0f}  {unit}  {note}  "
                  f"({time.monotonic() - t0:.0f} s)", flush=True)
    print()
    print(f"{'workload':15} {'loop':15} {'instructions':>12}  vs first")
    for workload, kind, value, unit, ratio, note in rows:
        if value is None:
            print(f"{workload:15} {kind:15} {unit}")
        else:
            print(f"{workload:15} {kind:15} {value:>12,.0f}  {ratio:.2f}x  {note}".rstrip())
    print("\nvs first: instructions / those of the workload's first loop measured (the "
          "ioloop row, or\nioloop-asyncio for the echo and application workloads, which "
          "need an asyncio loop).")
    if any(w in APP_WORKLOADS for w in workloads):
        print(bench_api.wrap(
            "application workloads: the server process's instructions per HTTP request; "
            "loop's compiled code: the share in ioloop's engine (_core), uvloop's or rloop's "
            "extension module, asyncio's C accelerator (_asyncio); interpreter: the share in "
            "the Python interpreter, where the framework's Python code runs, and the loop's "
            "where it is Python (ioloop's asyncio face, asyncio). The rest: the C extensions "
            "of the framework (httptools, aiohttp's parser and writer), libc.",
            bench_api.WIDTH, "  ", ""))
    if echo_note:
        print(echo_note)
    return 1 if any(unit == "ERROR (above)" for _w, _k, _v, unit, _r, _n in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
