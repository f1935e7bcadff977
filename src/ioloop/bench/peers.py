"""The loops under test and what the run knows about them: the ``_Api``
wrapper each workload calls (every loop through its own native API), the
peers' versions, which ioloop ``import ioloop`` gives and which engine it
runs (and the refusal to pass the pure-Python engine off as ioloop's), the
probing of each peer before a run, and the machine's description."""


import os
import platform
import sys

from .common import _env_flag
from .config import FLOOR, WATCHDOG_THRESHOLD
from .harness import _run_subprocess


class _Api:
    """The calls of one loop, bound once so the timed code makes the same
    number of Python-level calls for every loop.

    ``classic``: Tornado-style (``add_handler``, handlers get ``(fd,
    events)``, ``remove_timeout``); otherwise asyncio-style (``add_reader``,
    callbacks get no arguments, ``handle.cancel()``)."""

    __slots__ = ("name", "loop", "classic", "soon", "threadsafe", "later", "remove",
                 "run", "stop", "close", "READ", "WRITE", "ERROR")

    def __init__(self, name, loop, classic):
        self.name = name
        self.loop = loop
        self.classic = classic
        self.later = loop.call_later
        self.stop = loop.stop
        self.close = loop.close
        if classic:
            self.soon = loop.add_callback
            self.threadsafe = loop.add_callback
            self.remove = loop.remove_timeout
            self.run = loop.start
            self.READ, self.WRITE, self.ERROR = loop.READ, loop.WRITE, loop.ERROR
        else:
            self.soon = loop.call_soon
            self.threadsafe = loop.call_soon_threadsafe
            self.remove = None
            self.run = loop.run_forever
            self.READ = self.WRITE = self.ERROR = None

    def add_reader(self, fd, handler):
        """``handler`` must accept both call shapes: ``()`` and ``(fd, events)``."""
        if self.classic:
            self.loop.add_handler(fd, handler, self.READ)
        else:
            self.loop.add_reader(fd, handler)

    def remove_reader(self, fd):
        if self.classic:
            self.loop.remove_handler(fd)
        else:
            self.loop.remove_reader(fd)


def _make_api(name, asyncio_api=False):
    """``asyncio_api``: for the workloads on asyncio's server APIs, the
    twin (ioloop-py) and ioloop-watchdog through their asyncio face too."""
    if name == "ioloop-watchdog":
        import ioloop
        loop = ioloop.IOLoop() if not asyncio_api else ioloop.new_event_loop()
        loop.set_blocking_threshold(WATCHDOG_THRESHOLD)
        return _Api(name, loop, classic=not asyncio_api)
    if name in ("ioloop", "ioloop-py") and not asyncio_api:
        import ioloop
        return _Api(name, ioloop.IOLoop(), classic=True)
    if name == "ioloop-py":
        import ioloop
        return _Api(name, ioloop.new_event_loop(), classic=False)
    if name == "ioloop-asyncio":
        import ioloop
        return _Api(name, ioloop.new_event_loop(), classic=False)
    if name == "asyncio":
        import asyncio
        return _Api(name, asyncio.new_event_loop(), classic=False)
    if name == "uvloop":
        import uvloop
        return _Api(name, uvloop.new_event_loop(), classic=False)
    if name == "rloop":
        import rloop
        return _Api(name, rloop.new_event_loop(), classic=False)
    if name == "tornado":
        import tornado.ioloop
        return _Api(name, tornado.ioloop.IOLoop(make_current=False), classic=True)
    raise ValueError(f"unknown loop {name!r}")


def _peer_version(name):
    if name == FLOOR:
        return None
    if name.startswith("ioloop"):
        import ioloop
        return getattr(ioloop, "__version__", None)
    if name == "asyncio":
        return platform.python_version()
    if name == "tornado":
        import tornado
        return getattr(tornado, "version", None)
    module = __import__(name)
    version = getattr(module, "__version__", None)
    if version is None:
        try:
            from importlib import metadata
            version = metadata.version(name)
        except Exception:
            version = None
    return version


def _ioloop_identity():
    """Which ioloop ``import ioloop`` gives here, and which engine: the
    package's file, ``implementation`` ("cython": the compiled engine;
    "python": the pure-Python one), the engine module's file, whether the
    pure-Python engine was asked for (``IOLOOP_NO_EXTENSIONS=1``) and, when
    it runs without being asked for, why the compiled one did not load."""
    import ioloop
    implementation = getattr(ioloop, "implementation", None)
    engine = sys.modules.get("ioloop._core" if implementation == "cython"
                             else "ioloop._engine_py")
    ident = {
        "implementation": implementation,
        "version": getattr(ioloop, "__version__", None),
        "file": os.path.realpath(ioloop.__file__),
        "engine_file": (os.path.realpath(engine.__file__)
                        if getattr(engine, "__file__", None) else None),
        "python_engine_asked": _env_flag("IOLOOP_NO_EXTENSIONS"),
        "extension_error": None,
    }
    if implementation != "cython" and not ident["python_engine_asked"]:
        try:
            import ioloop._core  # noqa: F401
        except ImportError as exc:
            ident["extension_error"] = f"{type(exc).__name__}: {exc}"
    return ident


def _engine_text(ident, short=False):
    """The engine in a few words, for the output (``short``: without the
    compiled engine's file name)."""
    if ident.get("implementation") == "cython":
        if short or not ident.get("engine_file"):
            return "compiled engine"
        return f"compiled engine ({os.path.basename(ident['engine_file'])})"
    if ident.get("python_engine_asked"):
        return "pure-Python engine, IOLOOP_NO_EXTENSIONS=1"
    return "pure-Python engine: the compiled one did not load"


def _python_engine_refusal(ident, what="the ioloop rows"):
    """Why measuring ``ident``'s ioloop would mislead (its compiled engine
    did not load and the pure-Python one was not asked for), or None."""
    if ident.get("implementation") == "cython" or ident.get("python_engine_asked"):
        return None
    reason = ident.get("extension_error") or f"implementation={ident.get('implementation')!r}"
    return (f"the ioloop imported from {os.path.dirname(ident['file'])} has no working "
            f"compiled engine ({reason}), so {what} would measure its pure-Python engine, "
            "many times slower. Reinstall it where a C compiler and Cython are available "
            "(with IOLOOP_REQUIRE_EXTENSIONS=1 a failed build is an error instead of a "
            "silent fall-back), or measure the pure-Python engine on purpose with "
            "--allow-python-engine (or IOLOOP_NO_EXTENSIONS=1).")


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        info = ""
    for key in ("model name", "Model", "Hardware", "cpu model", "Processor"):
        for line in info.splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() == key and value.strip():
                return value.strip()
    return platform.processor() or "unknown"


def _nproc():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count()


def _governor():
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor") as f:
            return f.read().strip()
    except OSError:
        return None


def _machine_info():
    import ioloop
    ident = _ioloop_identity()
    info = {
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "nproc": _nproc(),
        "cpu_governor": _governor(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "python_executable": sys.executable,
        "ioloop_version": getattr(ioloop, "__version__", None),
        "ioloop_implementation": getattr(ioloop, "implementation", None),
        "ioloop_file": os.path.realpath(ioloop.__file__),
        "ioloop_engine": _engine_text(ident),
        "ioloop_engine_file": ident["engine_file"],
    }
    try:
        info["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        info["loadavg"] = None
    noisy = [v for v in ("PYTHONASYNCIODEBUG", "PYTHONDEVMODE", "PYTHONTRACEMALLOC")
             if os.environ.get(v)]
    info["noisy_env"] = noisy
    return info


def _probe_peer(name, timeout):
    """{"status": "ok"|"skipped"|"error", "version", "detail", "reason"}."""
    if name == FLOOR:
        return {"status": "ok", "version": None,
                "detail": "no loop library: the same callbacks / syscalls in a bare for loop"}
    if name in ("ioloop", "ioloop-asyncio", "ioloop-watchdog"):
        ident = _ioloop_identity()
        detail = _engine_text(ident, short=True)
        detail += {"ioloop": "; classic API",
                   "ioloop-asyncio": "; asyncio API of the same loop",
                   "ioloop-watchdog": f"; ioloop, watchdog on (set_blocking_threshold("
                                      f"{WATCHDOG_THRESHOLD:g})); classic API, asyncio API "
                                      "for the asyncio server workloads"}[name]
        return {"status": "ok", "version": ident["version"], "detail": detail,
                "implementation": ident["implementation"], "file": ident["file"],
                "engine_file": ident["engine_file"]}
    if name == "ioloop-py":
        try:
            ident = _run_subprocess(["--probe"], name, timeout)
        except RuntimeError as exc:
            return {"status": "error", "version": None, "reason": f"probe failed: {exc}"}
        if ident.get("implementation") != "python":
            return {"status": "error", "version": ident.get("version"),
                    "reason": f"IOLOOP_NO_EXTENSIONS=1 gave implementation "
                              f"{ident.get('implementation')!r}"}
        return {"status": "ok", "version": ident.get("version"),
                "detail": "pure-Python engine, IOLOOP_NO_EXTENSIONS=1; classic API",
                "implementation": "python", "file": ident.get("file"),
                "engine_file": ident.get("engine_file")}
    if name == "asyncio":
        import asyncio
        loop = asyncio.new_event_loop()
        try:
            detail = f"stdlib, {type(loop).__name__}, asyncio API"
        finally:
            loop.close()
        return {"status": "ok", "version": platform.python_version(), "detail": detail}
    try:
        version = _peer_version(name)
    except ImportError:
        return {"status": "skipped", "version": None, "reason": "not installed"}
    except Exception as exc:  # a broken install is a skip too, with its reason
        return {"status": "skipped", "version": None,
                "reason": f"import failed: {type(exc).__name__}: {exc}"}
    detail = ("tornado.ioloop.IOLoop on asyncio, classic API" if name == "tornado"
              else "asyncio API")
    return {"status": "ok", "version": version, "detail": detail}
