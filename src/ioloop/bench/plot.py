"""The ``--plot FILE`` chart: an SVG written by hand (no plotting library).

Two panels, one group of bars per workload and one bar per loop (the same
colour for a loop everywhere):

* throughput: requests/s of the echo workloads, and in a panel of their
  own those of the application workloads at saturation (median; the
  whisker spans min - max);
* latency: the p99 of each latency row (timer lateness, the echo round
  trips, the application servers at their fixed rate) on a log scale, a bar
  to the p99 with a white tick at the p50 and a black mark at the p99.9
  (medians over the runs; the whisker spans the runs' p99s).

Every figure comes from the run's summary; the chart says where it was
measured and that the table beside it has the spreads and ties."""


import math
import time
from html import escape

from .config import APP_WORKLOADS, ECHO_WORKLOADS, FLOOR, PEERS, _applies
from .report import _latency_rows


COLORS = {
    FLOOR: "#8c8c8c", "ioloop": "#08519c", "ioloop-asyncio": "#3182bd", "ioloop-py": "#9ecae1",
    "ioloop-watchdog": "#17becf",
    "asyncio": "#e6550d", "uvloop": "#31a354", "rloop": "#de2d26", "tornado": "#756bb1",
}
WIDTH = 1000
PANEL_HEIGHT = 300
LEFT, RIGHT, TOP = 80, 20, 40


def _nice_ticks(top):
    """Round tick values from 0 to at least ``top`` (linear axis)."""
    if top <= 0:
        return [0, 1]
    step = 10 ** math.floor(math.log10(top / 4))
    for mult in (1, 2, 2.5, 5, 10):
        if top / (step * mult) <= 6:
            step *= mult
            break
    ticks = [0.0]
    while ticks[-1] < top:
        ticks.append(ticks[-1] + step)
    return ticks


def _fmt_count(x):
    return f"{x / 1000:g}k" if x >= 1000 else f"{x:g}"


def _fmt_time(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:g} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:g} us"
    return f"{ns:g} ns"


class _Svg:
    def __init__(self, height):
        self.height = height
        self.parts = []

    def add(self, text):
        self.parts.append(text)

    def text(self, x, y, content, size=12, anchor="start", weight="normal", rotate=None,
             fill="#222"):
        transform = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate else ""
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
                 f'font-weight="{weight}" fill="{fill}"{transform}>{escape(content)}</text>')

    def line(self, x1, y1, x2, y2, stroke="#222", width=1.0, dash=None):
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                 f'stroke="{stroke}" stroke-width="{width}"{extra}/>')

    def rect(self, x, y, w, h, fill, title=None):
        tip = f"<title>{escape(title)}</title>" if title else ""
        self.add(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.5):.1f}" '
                 f'height="{max(h, 0.5):.1f}" fill="{fill}">{tip}</rect>')

    def render(self):
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{self.height}" '
                f'viewBox="0 0 {WIDTH} {self.height}" font-family="DejaVu Sans, Arial, '
                'sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n')
        return head + "\n".join(self.parts) + "\n</svg>\n"


def _groups(summary, order, workloads, kind, rates):
    """[(label, [(loop, bar)])] of one panel; a bar: {"value", "low",
    "high", and for latency "p50", "p999"} (ns for latency)."""
    groups = []
    if kind in ("echo", "app"):
        for workload in workloads:
            if workload not in (ECHO_WORKLOADS if kind == "echo" else APP_WORKLOADS):
                continue
            bars = []
            for loop in order:
                s = summary.get(loop, {}).get(workload)
                if s is None or not _applies(loop, workload) or s.get("shared_from"):
                    continue
                bars.append((loop, {"value": 1 / s["median"], "low": 1 / s["max"],
                                    "high": 1 / s["min"]}))
            if bars:
                groups.append((workload, bars))
        return groups
    for workload, name, label in _latency_rows(workloads):
        bars = []
        for loop in order:
            s = summary.get(loop, {}).get(name)
            if s is None or not s.get("latency") or s.get("shared_from"):
                continue
            lat = s["latency"]
            bars.append((loop, {"value": lat["p99"], "low": lat["p99_min"],
                                "high": lat["p99_max"], "p50": lat["p50"], "p999": lat["p999"]}))
        if bars:
            if name.endswith("@rate") and rates.get(workload):
                label = f"{label} @{rates[workload]['rate']:,.0f}/s"
            groups.append((label, bars))
    return groups


def _panel(svg, top, title, groups, log_scale):
    """One panel of grouped bars with its axis, from ``top`` (px)."""
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = PANEL_HEIGHT - 90
    y0 = top + 30
    svg.text(LEFT, top + 16, title, size=14, weight="bold")
    values = [b[k] for _, bars in groups for _, b in bars for k in ("value", "high", "p999")
              if k in b]
    if log_scale:
        positive = [v for v in values if v > 0]
        positive += [b[k] for _, bars in groups for _, b in bars for k in ("low", "p50")
                     if b.get(k, 0) > 0]
        lo = 10 ** math.floor(math.log10(min(positive)))
        hi = 10 ** math.ceil(math.log10(max(positive)))
        if hi <= lo:
            hi = lo * 10

        def y_of(v):
            v = max(v, lo)
            return y0 + plot_h - (math.log10(v) - math.log10(lo)) / (
                math.log10(hi) - math.log10(lo)) * plot_h

        ticks = [lo * 10 ** k for k in range(round(math.log10(hi / lo)) + 1)]
        tick_text = _fmt_time
    else:
        ticks = _nice_ticks(max(values))
        hi = ticks[-1]

        def y_of(v):
            return y0 + plot_h - v / hi * plot_h

        tick_text = _fmt_count
    for tick in ticks:
        y = y_of(tick)
        svg.line(LEFT, y, LEFT + plot_w, y, stroke="#e0e0e0")
        svg.text(LEFT - 6, y + 4, tick_text(tick), size=11, anchor="end")
    svg.line(LEFT, y0, LEFT, y0 + plot_h)
    svg.line(LEFT, y0 + plot_h, LEFT + plot_w, y0 + plot_h)
    group_w = plot_w / max(len(groups), 1)
    for g, (label, bars) in enumerate(groups):
        gx = LEFT + g * group_w
        bar_w = min(28.0, group_w * 0.8 / len(bars))
        start = gx + (group_w - bar_w * len(bars)) / 2
        for i, (loop, bar) in enumerate(bars):
            x = start + i * bar_w
            y = y_of(bar["value"])
            tip = f"{label}, {loop}: " + (
                f"p50 {_fmt_time(bar['p50'])}, p99 {_fmt_time(bar['value'])}, "
                f"p99.9 {_fmt_time(bar['p999'])}" if log_scale
                else f"{bar['value']:,.0f} req/s")
            svg.rect(x + 1, y, bar_w - 2, y0 + plot_h - y, COLORS.get(loop, "#444"), tip)
            cx = x + bar_w / 2
            svg.line(cx, y_of(bar["low"]), cx, y_of(bar["high"]), stroke="#222", width=1)
            if log_scale:
                p50 = y_of(bar["p50"])
                svg.line(x + 2, p50, x + bar_w - 2, p50, stroke="white", width=2)
                p999 = y_of(bar["p999"])
                svg.rect(cx - 3, p999 - 1.5, 6, 3, "#111")
        # Two lines: the workload, then what is measured ("rtt", "@R/s").
        head, sep, tail = label.rpartition(" ")
        lines = [head, tail] if sep else [label]
        for k, line in enumerate(lines):
            svg.text(gx + group_w / 2, y0 + plot_h + 15 + 13 * k, line, size=11,
                     anchor="middle")
    return y0 + plot_h + 42


def _chart(run, summary):
    rates = run.app["rates"] if run.app else {}
    panels = []
    for kind, title in (("echo", "Echo servers: requests/s (median; whisker: min - max)"),
                        ("app", "Application servers at saturation: requests/s (median; "
                                "whisker: min - max)")):
        groups = _groups(summary, run.order, run.workloads, kind, rates)
        if groups:
            panels.append((title, groups, False))
    groups = _groups(summary, run.order, run.workloads, "latency", rates)
    if groups:
        panels.append(("Latency, log scale: bar p99, white tick p50, black mark p99.9 "
                       "(medians; whisker: the runs' p99s)", groups, True))
    if not panels:
        return None
    svg = _Svg(0)
    machine = run.machine
    svg.text(LEFT, 22, "python -m ioloop.bench: requests/s and latency, per workload and loop",
             size=15, weight="bold")
    when = time.strftime("%Y-%m-%d", time.localtime(run.started))
    engine = ("compiled engine" if machine["ioloop_implementation"] == "cython"
              else machine["ioloop_engine"])
    svg.text(LEFT, 40, f"{when}, {machine['cpu']}, nproc={machine['nproc']}, "
             f"{machine['python']}, ioloop {machine['ioloop_version']} ({engine}); "
             "spreads and ties: see the table", size=11, fill="#555")
    # The legend: the loops that appear.
    present = {loop for _, groups, _ in panels for _, bars in groups for loop, _ in bars}
    shown = [loop for loop in PEERS if loop in present]
    x = LEFT
    for loop in shown:
        svg.rect(x, 50, 12, 12, COLORS.get(loop, "#444"))
        svg.text(x + 16, 60, loop, size=11)
        x += 30 + 7 * len(loop)
    y = TOP + 30
    for title, groups, log_scale in panels:
        y = _panel(svg, y, title, groups, log_scale)
    svg.height = round(y)
    return svg.render()


def _write_plot(run, summary):
    """--plot FILE: the chart of this run (nothing to chart: says so)."""
    text = _chart(run, summary)
    path = run.args.plot
    if text is None:
        print(f"--plot: nothing to chart in this run (no echo, application or latency "
              f"workload measured); {path} not written")
        return
    with open(path, "w") as f:
        f.write(text)
    print(f"  chart written to {path}")
