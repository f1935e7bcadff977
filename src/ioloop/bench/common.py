"""Small helpers every part of the benchmark uses: the no-op callback, the
skip exception, reading a boolean environment variable, the tail of a
process's output, the socket options of every TCP connection, the
percentiles of a list of latencies, and the scheduler's figures of a
process (CPU time, and time spent waiting for a CPU)."""


import math
import os
import socket


def _noop():
    pass


class _Skip(Exception):
    """The workload cannot run on this machine (reported as skipped)."""


def _tune(sock):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _env_flag(name):
    # The same reading as ioloop's: unset, "", 0, false, no mean off.
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _sched_ns(pid=None):
    """(CPU time, time spent runnable but waiting for a CPU) so far, in ns,
    of process ``pid``'s main thread, or of the calling thread: the
    scheduler's own accounting (/proc/.../schedstat); None where it is not
    available. The wait is the share of a measurement that other processes
    took (on a shared machine, often most of a latency's tail)."""
    path = f"/proc/{pid}/schedstat" if pid else "/proc/thread-self/schedstat"
    try:
        with open(path) as f:
            run, wait, _slices = f.read().split()
        return int(run), int(wait)
    except (OSError, ValueError):
        return None


def _wait_share(before, after, elapsed_ns):
    """The share of ``elapsed_ns`` spent waiting for a CPU between two
    ``_sched_ns`` readings, or None."""
    if not before or not after or elapsed_ns <= 0:
        return None
    return (after[1] - before[1]) / elapsed_ns


def _tail(text, lines=15):
    return "\n".join(text.strip().splitlines()[-lines:])


def _percentiles(values):
    """{"count", "mean", "p50", "p90", "p99", "p999", "max"} of ``values``
    (ns), each percentile the smallest value with at least that share of
    the values at or below it: the same figures the C load generators
    print from their histograms."""
    ordered = sorted(values)
    count = len(ordered)
    if not count:
        return {"count": 0}

    def at(q):
        rank = max(1, math.ceil(q * count))
        return ordered[rank - 1]

    return {"count": count, "mean": sum(ordered) / count, "p50": at(0.50), "p90": at(0.90),
            "p99": at(0.99), "p999": at(0.999), "max": ordered[-1]}
