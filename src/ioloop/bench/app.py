"""The application workloads' measurement (the worker side of ``--group
app``): the worker starts the application server of the workload on the
loop under test in a process of its own (``apps.py``), checks that the
loop under test serves it (``GET /loop``), and drives it with the C HTTP
load generator (``csrc/http_load.c``) in a third process, reading the
server's CPU time and its wait for a CPU (``/proc/PID/schedstat``) over
each measured window.

Two halves, two worker processes per (loop, workload, round):

* saturation: each of the ``APP_CONNS`` keep-alive connections sends its
  next request when the previous response arrived; the value is seconds
  per request (the table shows requests/s);
* fixed rate (``--app-rate R``): requests due on a fixed timetable at R
  per second, whatever the responses do; latency counts from the time each
  request was due (coordinated omission does not hide a stall). The value
  is each run's p99; p50, p99.9 and the maximum go into ``extra``.

Every response is checked by the generator (status 200, the body's
length): a run with any wrong response is an error, not a result."""


import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import time

from .common import _sched_ns, _tail
from .config import (
    APP_BODY,
    APP_BODY_64K,
    APP_CONNS,
    APP_STALL_TIMEOUT,
    APP_START_TIMEOUT,
    APP_WARMUP_MS,
    APP_WARM_MS,
)
from .loadgen import _c_tool
from .peers import _ioloop_identity


# The module the running loop's class must come from, per loop.
LOOP_MODULES = {"ioloop-asyncio": "ioloop.", "asyncio": "asyncio.", "uvloop": "uvloop.",
                "rloop": "rloop."}


def _body_len(workload):
    return len(APP_BODY_64K if workload == "aiohttp_64k" else APP_BODY)


def _get(port, path, timeout):
    """A plain HTTP/1.1 GET on a fresh connection: (status, body), the body
    read to its Content-Length (the server may keep the connection open)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError(f"GET {path}: the server closed the connection")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "-1"))
        if length < 0:
            raise RuntimeError(f"GET {path}: no Content-Length in {head[:200]!r}")
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError(f"GET {path}: the server closed the connection")
            body += chunk
    return int(lines[0].split(" ", 2)[1]), body


class _Server:
    """The application server process of one worker."""

    def __init__(self, workload, loop_name):
        self.workload = workload
        self.loop_name = loop_name
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ioloop.bench", "--app-server", workload, loop_name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr)

    def errors(self):
        """The server's stderr so far (its log: warnings and errors)."""
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def start(self):
        """Wait for the port, then check what serves it: the loop under
        test (and, for ioloop, the ioloop and engine of this process)."""
        deadline = time.monotonic() + APP_START_TIMEOUT
        fd = self.proc.stdout.fileno()
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, left))
            if not ready:
                raise RuntimeError(f"{self.workload}: the server did not start in "
                                   f"{APP_START_TIMEOUT:g}s; stderr: {_tail(self.errors(), 5)}")
            chunk = os.read(fd, 4096)
            if not chunk:
                self.proc.wait()
                raise RuntimeError(f"{self.workload}: the server exited ({self.proc.returncode})"
                                   f"; stderr:\n{_tail(self.errors())}")
            line += chunk
        self.port = json.loads(line)["port"]
        status, body = _get(self.port, "/loop", APP_START_TIMEOUT)
        if status != 200:
            raise RuntimeError(f"{self.workload}: GET /loop answered {status}")
        info = json.loads(body)
        if not info.get("loop_type", "").startswith(LOOP_MODULES[self.loop_name]):
            raise RuntimeError(f"{self.workload}: served by {info.get('loop_type')}, not "
                               f"{self.loop_name}")
        if self.workload == "tornado_http" and not info.get("tornado_wraps_running_loop"):
            raise RuntimeError("tornado_http: Tornado's IOLoop does not wrap the running loop")
        if self.loop_name.startswith("ioloop"):
            mine = _ioloop_identity()
            theirs = info.get("ioloop") or {}
            for key in ("implementation", "file", "engine_file"):
                if theirs.get(key) != mine.get(key):
                    raise RuntimeError(f"{self.workload}: the server ran {key}="
                                       f"{theirs.get(key)!r}, not {mine.get(key)!r}")
        return info

    def stop(self):
        if self.proc.stdin:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        log = self.errors()
        self.stderr.close()
        return log


def _wl_app(api, ms, harness, opts, extra, workload):
    """One application workload on ``opts["loop"]``: at saturation, or at
    ``opts["app_rate"]`` requests per second."""
    loop_name = opts["loop"]
    rate = opts.get("app_rate")
    conns = opts.get("app_conns", APP_CONNS)
    load_bin = _c_tool("http_load", opts.get("c_dir"))
    if load_bin is None:
        raise RuntimeError(f"{workload}: the C HTTP load generator could not be built "
                           "(no C compiler?)")
    server = _Server(workload, loop_name)
    gen = None
    runs, warmups = [], []
    completed = False
    try:
        info = server.start()
        gen = subprocess.Popen(
            [load_bin, str(server.port), str(conns), "/", str(_body_len(workload)),
             str(int(APP_STALL_TIMEOUT * 1000))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

        def run_once(run_ms):
            command = (f"rate {rate:.1f} {run_ms} {APP_WARM_MS}" if rate
                       else f"sat {run_ms} {APP_WARM_MS}")
            gen.stdin.write(command + "\n")
            gen.stdin.flush()
            marks = {}
            while True:
                line = gen.stdout.readline()
                if not line:
                    raise RuntimeError(f"{workload}: the load generator exited "
                                       f"({gen.wait()}); server log: {_tail(server.errors(), 5)}")
                msg = json.loads(line)
                event = msg.get("event")
                if not event:
                    break
                # The servers do their work in their main thread.
                marks[event] = (time.monotonic_ns(), _sched_ns(server.proc.pid))
            if "error" in msg:
                log = _tail(server.errors(), 5)
                raise RuntimeError(f"{workload}: {msg['error']} ({msg.get('errors', 0)} wrong "
                                   f"responses)" + (f"; server log: {log}" if log else ""))
            (t0, cpu0), (t1, cpu1) = marks["start"], marks["end"]
            if cpu0 and cpu1 and t1 > t0:
                msg["server_cpu_share"] = (cpu1[0] - cpu0[0]) / (t1 - t0)
                msg["server_wait_share"] = (cpu1[1] - cpu0[1]) / (t1 - t0)
                msg["server_cpu_ns_per_req"] = (cpu1[0] - cpu0[0]) / msg["requests"]
            msg["generator_cpu_share"] = msg["cpu_ns"] / (t1 - t0) if t1 > t0 else None
            return msg

        for _ in range(harness.warmups):
            result = run_once(min(ms, APP_WARMUP_MS))
            warmups.append(result["lat"]["p99"] / 1e9 if rate
                           else result["elapsed_ns"] / 1e9 / result["requests"])
        t0 = time.perf_counter()
        for _ in range(harness.values):
            runs.append(run_once(ms))
        duration = time.perf_counter() - t0
        completed = True
    finally:
        if gen is not None:
            with contextlib.suppress(OSError):
                gen.stdin.close()
            try:
                gen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                gen.kill()
                gen.wait()
            gen.stdout.close()
        log = server.stop()
    if completed and "Traceback" in log:
        raise RuntimeError(f"{workload}: the server logged an exception:\n{_tail(log)}")
    extra.update(
        loop_type=info["loop_type"], conns=conns, rate=rate,
        requests=[r["requests"] for r in runs],
        latency=[r["lat"] for r in runs],
        server_cpu_ns_per_req=[r.get("server_cpu_ns_per_req") for r in runs],
        server_cpu_share=[r.get("server_cpu_share") for r in runs],
        server_wait_share=[r.get("server_wait_share") for r in runs],
        client_cpu_share=[r.get("generator_cpu_share") for r in runs],
        late_1ms=[r.get("late_1ms") for r in runs], due=[r.get("due") for r in runs],
        queued_max=[r.get("queued_max") for r in runs],
        server_log=_tail(log, 5) if log.strip() else None)
    if rate:
        extra["achieved_rate"] = [r["requests"] / (r["elapsed_ns"] / 1e9) for r in runs]
        return [harness.record(f"{workload}@rate", [r["lat"]["p99"] / 1e9 for r in runs],
                               "second", ms, duration, warmups=warmups, timing=False)]
    return [harness.record(workload, [r["elapsed_ns"] / 1e9 / r["requests"] for r in runs],
                           "second", ms, duration, warmups=warmups, inner_loops=False)]
