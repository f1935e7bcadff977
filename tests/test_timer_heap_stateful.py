"""Model-based test of the timer heap (docs/behaviour.md "Timers").

A Hypothesis state machine adds timers (zero, tiny, equal-to-existing,
a few ms, huge, inf, 2**63, negative), cancels them (also after they
fired, also from inside another timer), mass-adds-and-cancels to force heap
compaction, and advances the real loop by 0-3 ms at a time. The model is a
dict of (deadline, insertion) entries.

Invariants: each advance fires timers in (deadline, insertion) order; no
timer fires before its deadline measured by ``time.monotonic()``; a timer
cancelled before it fired never fires; every live timer whose deadline is
not after the advance's stop timer has fired when the loop returns; no timer
fires twice; ``cancelled()``/``when()`` agree with the model; the heap holds
every live timer and at most ``live + max(64, live)`` entries in all
(the heap is rebuilt when cancelled timers pile up).
"""

import math
import time

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from ioloop import _engines
from ioloop._loop import loop_class

pytestmark = pytest.mark.timeout(120)

KINDS = ["zero", "tiny", "equal", "ms1", "ms3", "huge", "inf", "pow63", "negative"]
APIS = ["call_at", "add_timeout", "call_later"]


class Entry:
    __slots__ = ("tid", "deadline", "handle", "cancelled", "cancel_called", "fired_at", "what")

    def __init__(self, tid, deadline, handle, what):
        self.tid = tid
        self.deadline = deadline
        self.handle = handle
        self.cancelled = False
        self.cancel_called = False
        self.fired_at = None
        self.what = what

    @property
    def live(self):
        return not self.cancelled and self.fired_at is None


class TimerHeapMachine(RuleBasedStateMachine):
    timers = Bundle("timers")
    engine = _engines.implementation

    def __init__(self):
        super().__init__()
        self.loop = loop_class(self.engine)()
        self.entries = {}
        self.next_tid = 0
        self.batch = []
        self.violations = []
        # Any exception inside the loop (e.g. a cancelled timer whose
        # cleared callback got called anyway) is a violation.
        self.loop.set_exception_handler(
            lambda lp, ctx: self.violations.append(f"exception in loop: {ctx}"))

    def teardown(self):
        self.loop.close()

    # -- helpers ------------------------------------------------------------------

    def _fire(self, tid, action=None):
        now = time.monotonic()
        e = self.entries[tid]
        if e.fired_at is not None:
            self.violations.append(f"timer {tid} fired twice")
        if e.cancelled:
            self.violations.append(f"cancelled timer {tid} ({e.what}) fired")
        if now < e.deadline:
            self.violations.append(f"timer {tid} fired {e.deadline - now:.6f}s early")
        e.fired_at = now
        self.batch.append(tid)
        if action is not None:
            action()

    def _deadline_for(self, kind, pick):
        now = self.loop.time()
        if kind == "equal" and self.entries:
            keys = sorted(self.entries)
            return self.entries[keys[pick % len(keys)]].deadline
        return {
            "zero": now, "equal": now, "tiny": now + 1e-6, "ms1": now + 0.001,
            "ms3": now + 0.003, "huge": now + 3600.0, "inf": math.inf,
            "pow63": 2 ** 63, "negative": now - 0.01,
        }[kind]

    def _schedule(self, kind, api, pick, what, action=None):
        tid = self.next_tid
        self.next_tid += 1
        when = self._deadline_for(kind, pick)
        loop = self.loop
        # call_later cannot express an absolute deadline exactly: use it
        # for relative kinds only.
        if api == "call_later" and kind not in ("equal", "pow63", "inf"):
            before = loop.time()
            h = loop.call_later(when - before, self._fire, tid, action)
            deadline = h.when()
            assert deadline >= when - 1e-9
        elif api == "add_timeout":
            h = loop.add_timeout(when, self._fire, tid, action)
            deadline = float(when)
        else:
            h = loop.call_at(when, self._fire, tid, action)
            deadline = float(when)
        assert h.when() == deadline
        self.entries[tid] = Entry(tid, deadline, h, what)
        return tid

    def _cancel(self, tid, via):
        e = self.entries[tid]
        if via == "cancel":
            e.handle.cancel()
        else:
            self.loop.remove_timeout(e.handle)
        e.cancel_called = True
        if e.fired_at is None:
            e.cancelled = True

    # -- rules ----------------------------------------------------------------------

    @rule(target=timers, kind=st.sampled_from(KINDS), api=st.sampled_from(APIS),
          pick=st.integers(min_value=0, max_value=1000))
    def add_timer(self, kind, api, pick):
        return self._schedule(kind, api, pick, kind)

    @rule(tid=timers, via=st.sampled_from(["cancel", "remove_timeout"]))
    def cancel(self, tid, via):
        self._cancel(tid, via)

    @rule(target=timers, victim=timers, kind=st.sampled_from(["zero", "equal", "ms1", "negative"]),
          pick=st.integers(min_value=0, max_value=1000))
    def add_canceller(self, victim, kind, pick):
        """A timer whose callback cancels another timer (maybe in its batch)."""
        return self._schedule(kind, "call_at", pick, f"canceller-of-{victim}",
                              action=lambda: self._cancel(victim, "remove_timeout"))

    @rule(n=st.integers(min_value=65, max_value=300),
          frac=st.floats(min_value=0.5, max_value=1.0),
          rnd=st.randoms(use_true_random=False))
    def mass_add_and_cancel(self, n, frac, rnd):
        tids = [self._schedule(rnd.choice(KINDS), rnd.choice(APIS), rnd.randrange(1000), "mass")
                for _ in range(n)]
        for tid in tids:
            if rnd.random() < frac:
                self._cancel(tid, rnd.choice(["cancel", "remove_timeout"]))

    @rule(dt=st.sampled_from([0.0, 0.0005, 0.001, 0.002, 0.003]))
    def advance(self, dt):
        loop = self.loop
        tid = self.next_tid
        self.next_tid += 1
        stop = loop.call_later(dt, self._fire, tid, loop.stop)
        self.entries[tid] = Entry(tid, stop.when(), stop, "stop")
        self.batch = []
        guard = loop.call_later(5, loop.stop)
        loop.start()
        loop.remove_timeout(guard)
        assert self.entries[tid].fired_at is not None, "stop timer did not fire"

        fired = [self.entries[t] for t in self.batch]
        keys = [(e.deadline, e.tid) for e in fired]
        assert keys == sorted(keys), f"fired out of order: {keys}"
        late = [e.tid for e in self.entries.values()
                if e.live and e.deadline <= stop.when()]
        assert late == [], f"due timers {late} did not fire by the stop timer"

    # -- invariants ----------------------------------------------------------------

    @invariant()
    def no_violations(self):
        assert self.violations == []

    @invariant()
    def handles_agree_with_model(self):
        for e in self.entries.values():
            assert e.handle.cancelled() == e.cancel_called, e.tid
            assert e.handle.when() == e.deadline

    @invariant()
    def heap_is_bounded_and_complete(self):
        live = sum(1 for e in self.entries.values() if e.live)
        count = self.loop._timer_count()
        assert live <= count <= 2 * live + 65, (live, count)


# One test case per engine (TestTimerHeap_cython, TestTimerHeap_python).
for _engine in _engines.available():
    _case = type(f"TimerHeapMachine_{_engine}", (TimerHeapMachine,), {"engine": _engine}).TestCase
    _case.settings = settings(
        max_examples=30,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    _case.__name__ = _case.__qualname__ = f"TestTimerHeap_{_engine}"
    globals()[_case.__name__] = _case
del _engine, _case
