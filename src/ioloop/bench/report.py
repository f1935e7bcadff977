"""What a run prints and writes: the summary of the collected values
(medians, spreads, ratios to ioloop and to the floor, ties within the
noise, latency percentiles), the header, the results table, the echo and
application servers' tables, the latency table, their footnotes and the
120-column layout (``--wide``: every line whole), the legend, the losses,
the skipped cells and the errors, and the ``--json`` and ``--pyperf-dir``
files (the ``--plot`` chart: ``plot.py``)."""


import io
import json
import os
import statistics
import sys
import textwrap
import time

from .config import (
    APPLICABLE,
    APP_WORKLOADS,
    BASELINE,
    ECHO_CONNS,
    ECHO_SIZE,
    ECHO_WORKLOADS,
    FLOOR,
    FULL_N,
    IMPORTED_IOLOOPS,
    LATENCY_WORKLOADS,
    LATENESS_MAX_DELAY,
    LATENESS_MIN_DELAY,
    LATENESS_PAIRS,
    PEERS,
    PINGPONG_PAIRS,
    TIMED_WORKLOADS,
    WATCHDOG_THRESHOLD,
    _applies,
    _baseline,
)


# What the columns of the table mean: printed below it.
_LEGEND = (
    "runs: worker processes x values in each. median: over all values. ns: wall time of one "
    "run (scheduling + running) / N. spread: (max - min) / median.",
    "vs ioloop: cost (time or bytes) / ioloop's (for proto_echo, stream_echo, tornado_echo and "
    "the application workloads: / ioloop-asyncio's); below 1.00x is cheaper than ioloop. The floor row's ratio is the share "
    "of ioloop's cost that is the bare callbacks or syscalls. idle (K fds): the note is its time "
    "/ the time with no idle fd.",
    "echo and application workloads: N is the length of one timed run; req/s as the load "
    "generator counted them; tie: the two loops' ranges (min - max) overlap. server CPU: the server process's CPU time (user + system) per request; busy: CPU "
    "time / wall time (the kernel's TCP work, charged to both sides, is most of it).",
    "memory: bytes per pending timer (RSS growth / N).",
)
_LATENCY_LEGEND = (
    "latency: timer lateness: when a timer's callback ran minus when it was due (negative: "
    "early). rtt: an echo message's round trip at saturation, from the generator's send to "
    "the reply. fixed rate: an application server's response time with requests due on a "
    "timetable, from the time each was due (a stall delays every request behind it). vs "
    "ioloop: p99 / ioloop's (ioloop-asyncio's for the asyncio server APIs). tie: the two "
    "loops' p99 ranges overlap: the gap is within the run-to-run noise (the maximum of each run "
    "is in the JSON). CPU wait: the share of the time the process running the loop was ready "
    "to run while other processes held the CPUs (the scheduler's accounting): latency no loop "
    "could avoid. generator late: requests the load generator itself sent over 1 ms after "
    "they were due (their latency is partly its own).")


def _wrap(text, width, indent="", first=None):
    """``text`` wrapped to ``width`` columns (None: one line), its first
    line led by ``first`` (default: ``indent``), the others by ``indent``.
    Words are never broken: a path longer than a line stays whole."""
    first = indent if first is None else first
    if width is None:
        return first + text
    return "\n".join(textwrap.wrap(text, width, initial_indent=first, subsequent_indent=indent,
                                   break_long_words=False, break_on_hyphens=False)
                     ) or first.rstrip()


def _note_text(note):
    """A note cell: text, or a (short, detail) pair shown as "short (detail)"."""
    if isinstance(note, tuple):
        short, detail = note
        return f"{short} ({detail})" if short else detail
    return note


def _format_table(rows, header, width=None):
    """An aligned text table, and its footnotes. Numeric columns are
    right-aligned (marked by a leading '>' in their header name). The last
    column holds notes: text, or a (short, detail) pair. A row with fewer
    cells than the header is a note row: its last cell is written after the
    others and does not widen its column (for "skipped (not installed)").
    With a ``width``, a note that would make its line longer is replaced by
    a reference ("[k]", after its short part) to footnote k below the table;
    rows with the same long note share its footnote."""
    align = ["r" if h.startswith(">") else "l" for h in header]
    header = [h.lstrip(">") for h in header]
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell))

    def fmt(cells):
        return "  ".join(cell.rjust(widths[i]) if align[i] == "r" else cell.ljust(widths[i])
                         for i, cell in enumerate(cells))

    footnotes = []
    body = []
    for row in rows:
        lead = fmt(row[:-1]) + "  "
        note = row[-1]
        text = _note_text(note)
        if width is not None and text and len(lead) + len(text) > width:
            detail = note[1] if isinstance(note, tuple) else note
            if detail not in footnotes:
                footnotes.append(detail)
            ref = f"[{footnotes.index(detail) + 1}]"
            short = note[0] if isinstance(note, tuple) else ""
            text = f"{short} {ref}" if short else ref
        if len(row) == len(header):
            widths[-1] = max(widths[-1], len(text))
        body.append((lead + text).rstrip())
    lines = [fmt(header).rstrip(), "  ".join("-" * w for w in widths).rstrip()] + body
    for k, note in enumerate(footnotes, 1):
        lines.append(_wrap(note, width, " " * (len(str(k)) + 3), f"[{k}] "))
    return "\n".join(lines)


def _fmt_ns(x):
    if x >= 1000:
        return f"{x:,.0f}"
    return f"{x:.1f}"


def _bench_names(workload, idle_fds):
    if workload == "idle":
        return ["idle-0", f"idle-{2 * ((idle_fds + 1) // 2)}"]
    if workload in APP_WORKLOADS:
        return [workload, f"{workload}@rate"]
    return [workload]


def _latency_summary(samples):
    """The medians over runs of each run's latency percentiles (ns), and
    the range of the p99s; None when the runs recorded none."""
    runs = [r for smp in samples for r in smp["extra"].get("latency") or () if r.get("count")]
    if not runs:
        return None
    out = {key: statistics.median(r[key] for r in runs)
           for key in ("p50", "p90", "p99", "p999", "max", "mean") if key in runs[0]}
    out.update(p99_min=min(r["p99"] for r in runs), p99_max=max(r["p99"] for r in runs),
               runs=len(runs), count=sum(r["count"] for r in runs))
    if "early" in runs[0]:
        out["early"] = sum(r["early"] for r in runs)
    return out


def _within_noise(s, base):
    """Whether the values of two cells overlap (min - max): a gap between
    their medians that the run-to-run noise covers is a tie."""
    return s["min"] <= base["max"] and base["min"] <= s["max"]


def _extra_values(samples, key):
    return [v for s in samples for v in s["extra"].get(key, [])]


def _summarise(collector, peers, workloads, idle_fds, first_echo=None):
    summary = {}
    for loop in peers:
        for workload in workloads:
            for name in _bench_names(workload, idle_fds):
                s = collector.stats(loop, name)
                if s is None:
                    continue
                if s["unit"] == "second":
                    for key in ("median", "min", "max", "mean", "stdev"):
                        s[f"{key}_ns_per_op"] = s[key] * 1e9
                samples = collector.samples[loop][name]
                if name in TIMED_WORKLOADS:
                    s["req_per_s"] = 1.0 / s["median"]
                    s["duration_ms"] = s["n"]
                    for key, out in (("server_cpu_ns_per_req", "server_cpu_ns_per_req"),
                                     ("server_cpu_share", "server_cpu_share"),
                                     ("client_cpu_share", "load_generator_cpu_share")):
                        values = [v for v in _extra_values(samples, key) if v is not None]
                        s[out] = statistics.median(values) if values else None
                    if name in ECHO_WORKLOADS:
                        s["generator"] = samples[0]["extra"].get("generator")
                        s["depth"] = samples[0]["extra"].get("depth")
                if name.endswith("@rate"):
                    s["rate"] = samples[0]["extra"]["rate"]
                    achieved = _extra_values(samples, "achieved_rate")
                    s["achieved_rate"] = statistics.median(achieved) if achieved else None
                    # Requests the generator itself sent over 1 ms after they
                    # were due (it did not get a CPU in time): their latency
                    # is partly the generator's.
                    late = sum(v for v in _extra_values(samples, "late_1ms") if v)
                    due = sum(v for v in _extra_values(samples, "due") if v)
                    s["generator_late_share"] = late / due if due else None
                latency = _latency_summary(samples)
                if latency is not None:
                    s["latency"] = latency
                # How long the process running the loop waited for a CPU.
                waits = [v for v in _extra_values(samples, "server_wait_share") if v is not None]
                if waits:
                    s["server_wait_share"] = statistics.median(waits)
                if s["unit"] == "byte":
                    s["bytes_per_timer"] = s["median"]
                summary.setdefault(loop, {})[name] = s
    # One C floor server for every echo workload: measured under the first.
    floor = summary.get(FLOOR, {})
    if first_echo in floor:
        for workload in workloads:
            if workload in ECHO_WORKLOADS and workload != first_echo:
                floor[workload] = dict(floor[first_echo], shared_from=first_echo)
    for loop, per in summary.items():
        for name, s in per.items():
            base = summary.get(_baseline(name), {}).get(name)
            s["baseline"] = _baseline(name)
            s["ratio_vs_ioloop"] = (s["median"] / base["median"]
                                    if base and base["median"] > 0 else None)
            if base and loop not in (s["baseline"], FLOOR):
                s["within_noise"] = _within_noise(s, base)
            fl = floor.get(name)
            s["ratio_vs_floor"] = s["median"] / fl["median"] if fl else None
        if "idle-0" in per:
            for name, s in per.items():
                if name.startswith("idle-") and name != "idle-0":
                    s["ratio_vs_idle0"] = s["median"] / per["idle-0"]["median"]
    return summary


def _cells(s):
    """N, median, min - max, as text in the benchmark's own unit."""
    if s["unit"] == "byte":
        return (f"{s['n']:,}", f"{s['median']:,.1f} B", f"{s['min']:,.1f} - {s['max']:,.1f}")
    if "req_per_s" in s:
        return (f"{s['n'] / 1000:g} s", f"{1 / s['median']:,.0f} req/s",
                f"{1 / s['max']:,.0f} - {1 / s['min']:,.0f}")
    return (f"{s['n']:,}", f"{_fmt_ns(s['median_ns_per_op'])} ns",
            f"{_fmt_ns(s['min_ns_per_op'])} - {_fmt_ns(s['max_ns_per_op'])}")


def _note(name, s, wide=False):
    """The note of a table row (``wide``: with the echo workloads' CPU
    figures, which otherwise get their own table)."""
    if name.startswith("idle-") and s.get("ratio_vs_idle0") is not None:
        return f"{s['ratio_vs_idle0']:.2f}x vs no fds"
    if name in ECHO_WORKLOADS and s.get("shared_from"):
        return f"the {s['shared_from']} floor"
    notes = []
    if name in TIMED_WORKLOADS and s.get("within_noise"):
        notes.append("tie")
    if wide and name in ECHO_WORKLOADS and s.get("server_cpu_ns_per_req") is not None:
        notes.append("server CPU " + ", ".join(_echo_cpu_cells(s)))
    return "; ".join(notes)


def _echo_cpu_cells(s):
    """An echo row's server CPU per request, server busy, generator busy."""
    def share(x):
        return f"{x * 100:.0f}% busy" if x is not None else "-"

    return (f"{s['server_cpu_ns_per_req'] / 1000:.1f} us/req", share(s.get("server_cpu_share")),
            "generator " + share(s.get("load_generator_cpu_share")))


def _label(workload, name):
    if workload == "idle":
        count = int(name.split("-", 1)[1])
        return f"idle ({f'{count:,}' if count else 'no'} fds)"
    if name.endswith("@rate"):
        return f"{workload} (fixed rate)"
    return workload


def _cell_key(loop, workload, skipped, first_echo):
    """The (loop, workload) cell that measured a table row: the floor of
    every echo workload is the C server measured under the first one."""
    if (loop == FLOOR and workload in ECHO_WORKLOADS and (loop, workload) not in skipped
            and first_echo is not None):
        return (loop, first_echo)
    return (loop, workload)


def _results_table(summary, peers, order, workloads, idle_fds, errors, skipped,
                   first_echo=None, width=None):
    failed = {(e["loop"], e["workload"]) for e in errors}
    rows = []
    for workload in workloads:
        if workload in LATENCY_WORKLOADS:
            continue    # the latency table's
        for name in _bench_names(workload, idle_fds)[:1 if workload in APP_WORKLOADS else None]:
            first = True
            for loop in order:
                if not _applies(loop, workload):
                    continue
                label = _label(workload, name) if first else ""
                first = False
                peer = peers[loop]
                if peer["status"] == "skipped":
                    rows.append([label, loop, ("skipped", peer["reason"])])
                    continue
                if peer["status"] == "error":
                    rows.append([label, loop, "ERROR (see errors below)"])
                    continue
                cell = _cell_key(loop, workload, skipped, first_echo)
                s = summary.get(loop, {}).get(name)
                if s is None:
                    if cell in skipped:
                        rows.append([label, loop, ("skipped", skipped[cell])])
                    else:
                        rows.append([label, loop, "ERROR (see errors below)"
                                     if cell in failed else "no data"])
                    continue
                med = s["median"]
                spread = (s["max"] - s["min"]) / med * 100 if med else 0.0
                ratio = s["ratio_vs_ioloop"]
                note = _note(name, s, wide=width is None)
                if cell in failed:
                    note = (note + "; " if note else "") + "some runs failed"
                n_text, median_text, range_text = _cells(s)
                rows.append([
                    label, loop, n_text, median_text, range_text, f"{spread:.1f}%",
                    f"{ratio:.2f}x" if ratio is not None else "-",
                    (f"{s['processes']}x{s['values'] // s['processes']}"
                     if s["values"] % s["processes"] == 0 else f"{s['values']}"), note,
                ])
    header = ["workload", "loop", ">N", ">median", ">min - max", ">spread", ">vs ioloop",
              ">runs", "note"]
    return _format_table(rows, header, width)


def _echo_table(summary, order, workloads):
    """The echo rows' CPU figures (medians): the server's CPU time per
    request, and how busy the server and the load generator were."""
    rows = []
    for workload in workloads:
        if workload not in ECHO_WORKLOADS:
            continue
        first = True
        for loop in order:
            s = summary.get(loop, {}).get(workload)
            if s is None or s.get("shared_from") or s.get("server_cpu_ns_per_req") is None:
                continue
            cpu, server, generator = _echo_cpu_cells(s)
            rows.append([workload if first else "", loop, cpu, server.replace(" busy", ""),
                         generator.replace("generator ", "").replace(" busy", ""), ""])
            first = False
    if not rows:
        return None
    return _format_table(rows, ["echo", "loop", ">server CPU", ">server busy",
                                ">generator busy", ""])


def _fmt_latency(ns):
    """A latency (ns, may be negative: an early timer) in its unit."""
    size = abs(ns)
    if size >= 10e6:
        return f"{ns / 1e6:,.1f} ms"
    if size >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if size >= 10e3:
        return f"{ns / 1e3:,.0f} us"
    if size >= 1e3:
        return f"{ns / 1e3:.1f} us"
    return f"{ns:,.0f} ns"


def _fmt_latency_range(low, high):
    """``low - high`` in the unit of the larger one."""
    size = max(abs(low), abs(high))
    if size >= 1e6:
        digits = 1 if size >= 10e6 else 2
        return f"{low / 1e6:,.{digits}f} - {high / 1e6:,.{digits}f} ms"
    if size >= 1e3:
        digits = 0 if size >= 10e3 else 1
        return f"{low / 1e3:,.{digits}f} - {high / 1e3:,.{digits}f} us"
    return f"{low:,.0f} - {high:,.0f} ns"


def _latency_rows(workloads):
    """(workload, benchmark name, label) of every latency row: timer
    lateness, the echo workloads' round trips at saturation, and the
    application workloads at their fixed rate."""
    rows = []
    for workload in workloads:
        if workload in LATENCY_WORKLOADS:
            rows.append((workload, workload, "timer lateness"))
        elif workload in ECHO_WORKLOADS:
            rows.append((workload, workload, f"{workload} rtt"))
        elif workload in APP_WORKLOADS:
            rows.append((workload, f"{workload}@rate", workload))
    return rows


def _latency_table(summary, order, workloads, errors, skipped, width=None, rates=None):
    """Latency percentiles, medians over runs: how late timers fire on a
    busy loop, the echo round trips at saturation, and the application
    servers' responses at a fixed rate (the same for every loop)."""
    failed = {(e["loop"], e["workload"]) for e in errors}
    rows = []
    for workload, name, label in _latency_rows(workloads):
        # The fixed rate of an application workload: under its name.
        labels = [label]
        if name.endswith("@rate") and (rates or {}).get(workload):
            labels.append(f"@{rates[workload]['rate']:,.0f}/s")
        start = len(rows)
        for loop in order:
            if not _applies(loop, workload):
                continue
            s = summary.get(loop, {}).get(name)
            if s is not None and s.get("shared_from"):
                continue    # the same C floor server as the first echo row
            k = len(rows) - start
            text = labels[k] if k < len(labels) else ""
            if s is None or not s.get("latency"):
                if (loop, name) in failed or (loop, workload) in failed:
                    rows.append([text, loop, "ERROR (see errors below)"])
                elif (loop, workload) in skipped:
                    rows.append([text, loop, ("skipped", skipped[(loop, workload)])])
                continue
            lat = s["latency"]
            ratio = s.get("ratio_vs_ioloop")
            notes = []
            if s.get("within_noise"):
                notes.append("tie")
            if lat.get("early"):
                notes.append(f"{lat['early']:,}/{lat['count']:,} early")
            late = s.get("generator_late_share")
            if late is not None and late >= 0.01:
                notes.append(f"generator late {late * 100:.0f}%")
            wait = s.get("server_wait_share")
            rows.append([
                text, loop, _fmt_latency(lat["mean"]), _fmt_latency(lat["p50"]),
                _fmt_latency(lat["p99"]),
                _fmt_latency_range(lat["p99_min"], lat["p99_max"]),
                _fmt_latency(lat["p999"]),
                f"{ratio:.2f}x" if ratio is not None else "-",
                f"{wait * 100:.0f}%" if wait is not None else "-", "; ".join(notes)])
        if len(rows) - start == 1 and len(labels) > 1:
            # One loop: the rate on a line of its own, as under two loops
            # (beside the name it would widen the column past the width).
            rows.append([labels[1], ""])
    if not rows:
        return None
    return _format_table(rows, ["latency", "loop", ">mean", ">p50", ">p99", ">p99 min - max",
                                ">p99.9", ">vs ioloop", ">CPU wait", "note"], width)


def _app_table(summary, order, workloads):
    """The application servers at saturation (medians): CPU time per
    request, how busy the server was, how long it waited for a CPU (other
    processes had the cores), how busy the load generator was."""
    rows = []
    for workload in workloads:
        if workload not in APP_WORKLOADS:
            continue
        first = True
        for loop in order:
            s = summary.get(loop, {}).get(workload)
            if s is None or s.get("server_cpu_ns_per_req") is None:
                continue

            def share(x):
                return f"{x * 100:.0f}%" if x is not None else "-"

            rows.append([workload if first else "", loop,
                         f"{s['server_cpu_ns_per_req'] / 1000:.1f} us/req",
                         share(s.get("server_cpu_share")), share(s.get("server_wait_share")),
                         share(s.get("load_generator_cpu_share")), ""])
            first = False
    if not rows:
        return None
    return _format_table(rows, ["application", "loop", ">server CPU", ">server busy",
                                ">CPU wait", ">generator busy", ""])


# Below this ratio between the loops' CPU time per request, an application
# workload is called bound by its framework.
FRAMEWORK_BOUND = 1.3


def _app_bounds(summary, order, workloads):
    """For each application workload measured on several loops, one
    sentence: how far apart the loops' server CPU time per request is, and
    whether the framework (its code and the kernel's TCP work, the same on
    every loop) or the loop sets it."""
    lines = []
    for workload in workloads:
        if workload not in APP_WORKLOADS:
            continue
        cpu = {loop: summary[loop][workload]["server_cpu_ns_per_req"] for loop in order
               if summary.get(loop, {}).get(workload, {}).get("server_cpu_ns_per_req")}
        if len(cpu) < 2:
            continue
        low, high = min(cpu.values()), max(cpu.values())
        ratio = high / low
        text = (f"{workload}: {low / 1000:.1f} - {high / 1000:.1f} us per request "
                f"({min(cpu, key=cpu.get)} - {max(cpu, key=cpu.get)}, {ratio:.2f}x): ")
        if ratio < FRAMEWORK_BOUND:
            text += ("the framework's own code and the kernel's TCP work, the same on every "
                     "loop, are most of it: the loop cannot change much here")
        else:
            text += "the loop's own cost shows"
        lines.append(text)
    return lines


WATCHDOG = "ioloop-watchdog"


def _watchdog_costs(summary, workloads, idle_fds):
    """The watchdog's cost on each workload, as text ("callbacks 1.02x"):
    the ioloop-watchdog row's ratio to the same loop without the watchdog
    ("tie" when the two cells' values overlap)."""
    parts = []
    for workload in workloads:
        for name in _bench_names(workload, idle_fds):
            s = summary.get(WATCHDOG, {}).get(name)
            if not s or s.get("ratio_vs_ioloop") is None:
                continue
            what = _label(workload, name) + (" p99" if workload in LATENCY_WORKLOADS else "")
            text = f"{what} {s['ratio_vs_ioloop']:.2f}x"
            if s.get("within_noise"):
                text += " (tie)"
            parts.append(text)
    return parts


def _losses(summary, order, workloads, idle_fds, margin=0.05):
    """Where a loop (not the floor) beat ioloop (the workload's baseline)
    by more than ``margin``: one sentence each. For the timed workloads
    and the latency figures, only beyond the noise (the two cells' values
    do not overlap)."""
    lines = []
    for workload in workloads:
        baseline = _baseline(workload)
        for name in _bench_names(workload, idle_fds):
            base = summary.get(baseline, {}).get(name)
            if not base:
                continue
            for loop in order:
                if loop in (FLOOR, baseline, WATCHDOG):   # ioloop itself: its own note
                    continue
                s = summary.get(loop, {}).get(name)
                if not s or s["ratio_vs_ioloop"] is None or s["ratio_vs_ioloop"] >= 1 - margin:
                    continue
                noisy = (name in TIMED_WORKLOADS or name.endswith("@rate")
                         or workload in LATENCY_WORKLOADS)
                if noisy and s.get("within_noise"):
                    continue
                if name.endswith("@rate") or workload in LATENCY_WORKLOADS:
                    what = "p99 latency" if name.endswith("@rate") else "p99 timer lateness"
                    lines.append(f"{_label(workload, name)}: {loop}'s {what} is "
                                 f"{s['ratio_vs_ioloop']:.2f}x {baseline}'s")
                    continue
                lines.append(f"{_label(workload, name)}: {loop} needs "
                             f"{s['ratio_vs_ioloop']:.2f}x {baseline}'s "
                             + ("memory" if s["unit"] == "byte" else "time")
                             + f" ({baseline} costs {1 / s['ratio_vs_ioloop']:.2f}x {loop})")
    return lines


_DESCRIPTIONS = {
    "callbacks": "N no-op callbacks scheduled, then run; ns per callback",
    "chain": "each callback schedules the next, N times; ns per callback",
    "timers": "N timers, random delay in [0, 1 ms], every other one cancelled; ns per timer set",
    "threadsafe": "a second thread submits N callbacks; ns per callback until all ran",
    "pingpong": f"{PINGPONG_PAIRS} socketpairs bouncing one byte via read handlers; "
                "ns per round trip",
    "idle": "one socketpair bouncing (N round trips) with no / with {idle} idle fds "
            "registered; ns per round trip",
    "echo": "raw-socket TCP echo server on read handlers (add_handler / add_reader); req/s",
    "proto_echo": "asyncio.Protocol echo server via loop.create_server; req/s",
    "stream_echo": "asyncio streams echo via asyncio.start_server (read, write, "
                   "await drain); req/s",
    "tornado_echo": "Tornado TCPServer / IOStream echo (read_bytes(64, partial=True), "
                    "await write) on the asyncio loop; req/s",
    "memory": "bytes per pending timer: RSS growth while N timers are scheduled, / N",
    "call_later": "N call_later(0, f), then run; ns per callback",
    "lateness": f"N timers set one after the other (call_later, {LATENESS_MIN_DELAY * 1e3:g}-"
                f"{LATENESS_MAX_DELAY * 1e3:g} ms) while {LATENESS_PAIRS} socketpairs bounce "
                "bytes through read handlers; how late each fires (latency table)",
    "uvicorn": "uvicorn, httptools parser, minimal ASGI app (13-byte body); the loop as "
               "uvicorn's --loop",
    "aiohttp": "aiohttp.web hello world (13-byte body), web.run_app(sock=, loop=)",
    "aiohttp_64k": "aiohttp.web, a 64 KiB body",
    "httptools_proto": "asyncio.Protocol + httptools.HttpRequestParser, one fixed response "
                       "per request via call_soon (uvloop's benchmark server)",
    "tornado_http": "Tornado web.Application hello world on tornado.httpserver.HTTPServer",
}


def _header_text(machine, peers, order, workloads, ns, repeats, harness, idle_fds, full_ns,
                 mode, echo=None, unavailable=None, width=None, custom_n=False, app=None):
    unavailable = unavailable or {}
    lines = ["ioloop benchmark: " + time.strftime("%Y-%m-%d %H:%M:%S %z")]
    indent = " " * 10

    def add(label, text):
        lines.append(_wrap(text, width, indent, f"{label:<8}: "))

    add("machine", f"{machine['machine']}, {machine['cpu']}, nproc={machine['nproc']}"
        + (f", governor={machine['cpu_governor']}" if machine["cpu_governor"] else "")
        + f", {machine['kernel']}")
    if machine.get("loadavg") is not None:
        add("load", f"{' '.join(str(x) for x in machine['loadavg'])} (at start; other work on "
            "the machine skews every figure)")
    add("python", f"{machine['python']} ({machine['python_executable']})")
    add("ioloop", f"{machine['ioloop_version']}, {machine['ioloop_engine']}, from "
        f"{os.path.dirname(machine['ioloop_file'])}")
    if machine["ioloop_implementation"] != "cython" and any(
            name in IMPORTED_IOLOOPS for name in order):
        add("WARNING", f"the ioloop rows measure the {machine['ioloop_engine']}; not the "
            "compiled one")
    add("harness", harness["text"])
    if machine["noisy_env"]:
        add("WARNING", f"{', '.join(machine['noisy_env'])} set: results are not representative")
    lines.append("peers   :")
    nwidth = max(len(name) for name in order)
    for name in order:
        peer = peers[name]
        if peer["status"] == "ok":
            text = f"{peer['version'] or '-'}"
            if peer.get("detail"):
                text += f"  ({peer['detail']})"
        elif peer["status"] == "skipped":
            text = f"skipped ({peer['reason']})"
        else:
            text = f"ERROR: {peer['reason']}"
        lines.append(_wrap(text, width, " " * (nwidth + 6), f"  {name.ljust(nwidth)}  "))
    lines.append("workloads:")
    wwidth = max(len(w) for w in workloads)
    reduced = []
    for w in workloads:
        desc = _DESCRIPTIONS[w].format(idle=f"{2 * ((idle_fds + 1) // 2):,}")
        if w in TIMED_WORKLOADS:
            size = f"N={ns[w] / 1000:g} s"
            if w in APPLICABLE:
                desc += f" (on {', '.join(x for x in APPLICABLE[w] if x in order)})"
        else:
            size = f"N={ns[w]:,}"
        if w in unavailable:
            text = f"skipped ({unavailable[w]}): {desc}"
        else:
            text = f"{size}, {repeats[w]} run(s): {desc}"
            if ns[w] < full_ns[w] and w not in TIMED_WORKLOADS:
                reduced.append(f"{w} {ns[w]:,} (full: {full_ns[w]:,})")
        lines.append(_wrap(text, width, " " * (wwidth + 4), f"  {w.ljust(wwidth)}  "))
    if echo is not None:
        add("echo", echo["text"])
        lines.append(_wrap(f"{echo['floor']}, measured once for all the echo workloads", width,
                           indent))
    if app is not None:
        add("app", app["text"])
    if mode == "quick":
        add("NOTE", "--quick: small N and few runs, a smoke test, not a measurement")
    elif reduced:
        add("NOTE", "N reduced from the full sizes"
            + ("" if custom_n else " to keep this run to about 6 minutes on 2 cores")
            + ": " + ", ".join(reduced) + "; --full runs the full sizes")
    lines.append(_wrap("each run a fresh subprocess; loop order shuffled per round and "
                       "workload", width, indent))
    return "\n".join(lines)


def _print_results(run, summary):
    """The results table and what follows it: the echo servers' table, the
    legend, the warnings, the losses, the skipped cells and the errors."""
    width = run.width
    order, workloads, idle_fds = run.order, run.workloads, run.idle_fds
    print()
    print(_results_table(summary, run.peers, order, workloads, idle_fds, run.errors, run.skipped,
                         run.first_echo, width))
    echo_table = _echo_table(summary, order, workloads) if width is not None else None
    if echo_table:
        print("\necho servers: CPU time per request, and how busy each side was "
              "(medians; busy: CPU time / wall time)")
        print(echo_table)
    app_table = _app_table(summary, order, workloads)
    if app_table:
        print(_wrap("application servers at saturation: CPU time per request, how busy each "
                    "side was, and how long the server waited for a CPU that other processes "
                    "held (medians; shares of the wall time)", width, "  ", "\n"))
        print(app_table)
        bounds = _app_bounds(summary, order, workloads)
        if bounds:
            print("server CPU per request across the loops:")
            for line in bounds:
                print(_wrap(line, width, "    ", "  "))
    rates = run.app["rates"] if run.app else {}
    latency = _latency_table(summary, order, workloads, run.errors, run.skipped, width, rates)
    if latency:
        print("\nlatency: percentiles of each run, medians over the runs")
        print(latency)
    print()
    for paragraph in _LEGEND:
        print(_wrap(paragraph, width, "  ", ""))
    if latency:
        print(_wrap(_LATENCY_LEGEND, width, "  ", ""))
    for workload, chosen in rates.items():
        print(_wrap(f"{workload} (fixed rate): {chosen['rate']:,.0f} requests/s on every loop, "
                    f"{chosen['fraction']:g} x the slowest loop's median at saturation "
                    f"({chosen['slowest']}, {chosen['slowest_req_per_s']:,.0f} req/s).",
                    width, "  ", ""))
    machine = run.machine
    if machine["ioloop_implementation"] != "cython" and any(
            name in IMPORTED_IOLOOPS for name in order):
        print()
        rows = ("ioloop, ioloop-asyncio and ioloop-watchdog" if WATCHDOG in order
                else "ioloop and ioloop-asyncio")
        print(_wrap(f"WARNING: the {rows} rows ran the {machine['ioloop_engine']}; not the "
                    "compiled one.", width, "  ", ""))
    if WATCHDOG in order:
        costs = (", ".join(_watchdog_costs(summary, workloads, idle_fds))
                 or "none, without the rows it is compared against (--overhead adds them)")
        print(_wrap(f"{WATCHDOG}: ioloop, watchdog on: the same loop with "
                    f"set_blocking_threshold({WATCHDOG_THRESHOLD:g}) (the blocked-loop watchdog "
                    "thread) on, on the classic API (the asyncio API for the workloads on "
                    "asyncio's server APIs); its 'vs ioloop' ratio is the watchdog's cost. "
                    "(The stats() counters are always on: every ioloop row pays for them.) "
                    f"Watchdog on / off, median: {costs}.", width, "  ", "\n"))
    losses = _losses(summary, order, workloads, idle_fds)
    if losses:
        print("\nwhere a peer beats ioloop by more than 5% (median):")
        for line in losses:
            print(_wrap(line, width, "    ", "  "))
    if run.skipped:
        print("\nskipped:")
        grouped = {}
        for (loop, workload), reason in run.skipped.items():
            grouped.setdefault((workload, reason), []).append(loop)
        for (workload, reason), loops_skipped in grouped.items():
            print(_wrap(f"{workload} on {', '.join(loops_skipped)}: {reason}", width, "    ",
                        "  "))
    if run.errors:
        print("\nerrors:")
        for e in run.errors:
            where = e["loop"]
            if e["workload"]:
                where += f" {e['workload']} round {e['round'] + 1}"
            print(f"  {where}: {e['message']}")


def _write_pyperf_dir(run, suites):
    """--pyperf-dir: one pyperf JSON file per loop."""
    directory = run.args.pyperf_dir
    if directory and suites:
        os.makedirs(directory, exist_ok=True)
        for loop, suite in suites.items():
            suite.dump(os.path.join(directory, f"{loop}.json"), replace=True)
        print(_wrap(f"pyperf files written to {directory} (python -m pyperf compare_to "
                    f"{os.path.join(directory, 'ioloop.json')} "
                    f"{os.path.join(directory, 'asyncio.json')} --table)", run.width, "  "))
    elif directory:
        print("--pyperf-dir: nothing written (the built-in harness ran)")


def _write_json(run, summary, suites):
    """--json: the run's metadata, every raw sample, the summary, the pyperf
    data, the order the cells ran in, what was skipped and what failed."""
    args, echo, idle_fds = run.args, run.echo, run.idle_fds
    doc = {
        "schema": 2,
        "meta": dict(run.machine, argv=sys.argv[1:] if run.argv is None else list(run.argv),
                     started=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(run.started)),
                     duration_s=run.duration, repeat=run.repeat, repeats=run.repeats, n=run.ns,
                     full_n=FULL_N, loops=run.order, workloads=run.workloads, seed=args.seed,
                     interrupted=run.interrupted, baseline=BASELINE, floor=FLOOR,
                     harness=run.harness["kind"], pyperf_version=run.harness["pyperf_version"],
                     values_per_process=args.values, warmups_per_process=args.warmups,
                     idle_fds=2 * ((idle_fds + 1) // 2), pingpong_pairs=PINGPONG_PAIRS,
                     echo_conns=ECHO_CONNS, echo_size=ECHO_SIZE,
                     echo=({k: v for k, v in echo.items() if k != "text"}
                           if echo else None),
                     app=({k: v for k, v in run.app.items() if k != "text"}
                          if run.app else None),
                     applicable={w: list(APPLICABLE.get(w, PEERS)) for w in run.workloads},
                     memory_method="RSS delta (/proc/self/statm) / N"),
        "peers": run.peers,
        "samples": run.collector.samples,
        "summary": summary,
        "pyperf": {loop: _suite_json(suite) for loop, suite in suites.items()},
        "order": run.schedule,
        "skipped": [{"loop": loop, "workload": workload, "reason": reason}
                    for (loop, workload), reason in run.skipped.items()],
        "errors": run.errors,
    }
    with open(args.json, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print(_wrap(f"raw samples and summary written to {args.json}", run.width, "  "))


def _suite_json(suite):
    buf = io.StringIO()
    suite.dump(buf)
    return json.loads(buf.getvalue())
