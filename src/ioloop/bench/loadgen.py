"""The load generators and their build: the C programs in ``csrc/``
(``echo_load.c``: the echo load generator; ``echo_server.c``: the echo
floor, an epoll echo server) compiled at run time with ``$CC``/gcc/cc into
a temporary directory (without a compiler the run falls back as it says),
and the Python echo load generator (``--echo-load``), the C one's protocol
on ``select.epoll``."""


import atexit
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from .common import _tail, _tune
from .config import ECHO_STALL_TIMEOUT


# The C programs ship beside this module (csrc/*.c, and the header they
# share) and are compiled when a run needs them: the echo floor server, the
# echo load generator and the HTTP load generator.
CSRC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc")
_C_TOOLS = {"echo_server": "echo_server.c", "echo_load": "echo_load.c",
            "http_load": "http_load.c"}


def _c_compiler():
    """The C compiler's command (``$CC``, else gcc, else cc), or None."""
    for name in (os.environ.get("CC"), "gcc", "cc"):
        if name:
            found = shutil.which(name.split()[0])
            if found:
                return [found] + name.split()[1:]
    return None


def _build_c_tools(directory, names=None):
    """Compile the C programs ``names`` (keys of ``_C_TOOLS``; default: all
    of them) into ``directory``. Returns ``{"ok", "compiler", "error",
    "dir", "tools"}``."""
    names = list(_C_TOOLS) if names is None else [n for n in _C_TOOLS if n in names]
    cc = _c_compiler()
    info = {"ok": False, "compiler": None, "error": None, "dir": directory, "tools": names}
    if cc is None:
        info["error"] = ("no C compiler (gcc/cc not found on PATH; install gcc, or set CC "
                         "to a C compiler)")
        return info
    try:
        version = subprocess.run(cc + ["--version"], capture_output=True, text=True,
                                 timeout=30).stdout.splitlines()
        info["compiler"] = version[0].strip() if version else os.path.basename(cc[0])
        for name in names:
            source = _C_TOOLS[name]
            src = os.path.join(CSRC_DIR, source)
            if not os.path.isfile(src):
                info["error"] = f"the C source {src} is not installed"
                return info
            proc = subprocess.run(cc + ["-O2", "-o", os.path.join(directory, name), src],
                                  capture_output=True, text=True, timeout=120)
            if proc.returncode != 0:
                info["error"] = f"{' '.join(cc)} failed on {source}: {_tail(proc.stderr, 5)}"
                return info
    except (OSError, subprocess.SubprocessError) as exc:
        info["error"] = f"{type(exc).__name__}: {exc}"
        return info
    info["ok"] = True
    return info


_c_tools_cache = {}


def _c_tool(name, c_dir):
    """Path of the compiled C program ``name`` (a key of ``_C_TOOLS``), or
    None. ``c_dir``: where the parent built them; a worker started by hand
    (no ``c_dir``) builds its own."""
    if c_dir:
        path = os.path.join(c_dir, name)
        return path if os.access(path, os.X_OK) else None
    if "info" not in _c_tools_cache:
        directory = tempfile.mkdtemp(prefix="ioloop-bench-")
        atexit.register(shutil.rmtree, directory, True)
        _c_tools_cache["info"] = _build_c_tools(directory)
    info = _c_tools_cache["info"]
    return os.path.join(info["dir"], name) if info["ok"] else None


def _echo_load(port, conns, size, depth):
    """The Python load generator (``--echo-load``; used when no C compiler
    is there, or with ``--echo-gen python``): the C generator's protocol
    in plain Python on ``select.epoll``, no event loop library. On each
    ``run MS`` line on stdin: connect ``conns`` connections, one priming
    round trip on each, then ``depth`` messages of ``size`` bytes in flight
    on each for MS milliseconds; count the replies in that window, wait for
    the ones still in flight, close, print one JSON line."""
    out = sys.stdout
    one = b"x" * size
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] != "run" or len(words) != 2:
            out.write(json.dumps({"error": f"bad command {line!r}"}) + "\n")
            out.flush()
            return 2
        ms = int(words[1])
        socks = []
        ep = select.epoll()
        try:
            for _ in range(conns):
                s = socket.create_connection(("127.0.0.1", port))
                socks.append(s)
                _tune(s)
                s.setblocking(False)
            by_fd = {s.fileno(): s for s in socks}
            got = dict.fromkeys(by_fd, 0)
            inflight = dict.fromkeys(by_fd, 0)
            for fd in by_fd:
                ep.register(fd, select.EPOLLIN)
            poll = ep.poll

            def send(s, data):
                sent = s.send(data)
                if sent < len(data):
                    # The kernel is full (not with small messages on
                    # loopback): finish this one blocking.
                    s.setblocking(True)
                    s.sendall(data[sent:])
                    s.setblocking(False)

            def on_events(events, resend):
                done = 0
                for fd, _ev in events:
                    data = by_fd[fd].recv(65536)
                    if not data:
                        raise RuntimeError("the server closed a connection")
                    k, got[fd] = divmod(got[fd] + len(data), size)
                    if k:
                        done += k
                        if resend:
                            send(by_fd[fd], one * k)
                        else:
                            inflight[fd] -= k
                return done

            def drain():
                last = time.monotonic()
                while any(inflight.values()):
                    events = poll(0.1)
                    now = time.monotonic()
                    if events:
                        last = now
                        on_events(events, False)
                    elif now - last > ECHO_STALL_TIMEOUT:
                        raise RuntimeError(f"no reply for {ECHO_STALL_TIMEOUT:g}s")

            for s in socks:
                inflight[s.fileno()] = 1
                send(s, one)
            drain()
            out.write('{"event": "start"}\n')
            out.flush()
            c0 = time.process_time_ns()
            t0 = last = time.perf_counter_ns()
            deadline = t0 + ms * 1_000_000
            batch = one * depth
            for s in socks:
                inflight[s.fileno()] = depth
                send(s, batch)
            done = 0
            while True:
                left = deadline - time.perf_counter_ns()
                if left <= 0:
                    break
                events = poll(min(left / 1e9, 0.1))
                now = time.perf_counter_ns()
                if now >= deadline:
                    # This batch is past the window: count its replies as
                    # in flight no more, without resending.
                    on_events(events, False)
                    break
                if events:
                    done += on_events(events, True)
                    last = now
                elif now - last > ECHO_STALL_TIMEOUT * 1e9:
                    raise RuntimeError(f"no reply for {ECHO_STALL_TIMEOUT:g}s")
            cpu = time.process_time_ns() - c0
            elapsed = last - t0
            out.write('{"event": "end"}\n')
            out.flush()
            drain()
            if not done:
                raise RuntimeError("no reply within the timed window")
            result = {"requests": done, "elapsed_ns": elapsed, "cpu_ns": cpu}
        except (OSError, RuntimeError) as exc:
            result = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            ep.close()
            for s in socks:
                s.close()
        out.write(json.dumps(result) + "\n")
        out.flush()
        if "error" in result:
            return 1
    return 0
