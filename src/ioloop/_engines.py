"""The engines, and the choice of the default one.

An engine is the part of the loop that owns the epoll set, the timer heap,
the ready queue and the waker: ``ioloop._core`` (Cython, ``"cython"``) or its
pure-Python twin ``ioloop._engine_py`` (``"python"``). The default engine,
the one ``ioloop.IOLoop`` runs on, is chosen once, here, when ``ioloop`` is
imported: the compiled engine if it imports, else the twin (with a
warning when the installed package should have had it);
``IOLOOP_NO_EXTENSIONS=1`` forces the twin (and ``ioloop._core`` is then
never imported), ``IOLOOP_REQUIRE_EXTENSIONS=1`` makes a missing compiled
engine an error.

``get(name)`` loads an engine by name (the tests run the facade on both
engines in one process through ``ioloop._loop.loop_class(name)``).
"""

from __future__ import annotations

import importlib
import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import _engine_py

__all__ = ["Engine", "NAMES", "available", "default", "get", "implementation"]

#: Engine names, fastest first.
NAMES = ("cython", "python")
_MODULES = {"cython": "ioloop._core", "python": "ioloop._engine_py"}


class Engine:
    """One engine: its name, module and classes."""

    __slots__ = ("name", "module", "Loop", "Handle", "TimerHandle", "StreamCore")

    def __init__(self, name: str, module: Any) -> None:
        self.name = name
        self.module = module
        # (Type checkers see the twin's classes, as everywhere in ioloop.)
        self.Loop: type[_engine_py.Loop] = module.Loop
        self.Handle: type[_engine_py.Handle] = module.Handle
        self.TimerHandle: type[_engine_py.TimerHandle] = module.TimerHandle
        # The hot paths of the engine's stream transports (the one
        # _transports.StreamTransport runs on for a loop of this engine).
        self.StreamCore: type[Any] = module.Loop._stream_core

    def __repr__(self) -> str:
        return f"<ioloop engine {self.name!r} ({self.module.__name__})>"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


_lock = threading.Lock()
_loaded: dict[str, Engine] = {}


def _load(name: str) -> Engine:
    with _lock:
        engine = _loaded.get(name)
        if engine is None:
            engine = _loaded[name] = Engine(name, importlib.import_module(_MODULES[name]))
        return engine


def get(name: str) -> Engine:
    """The engine called ``name`` (``"cython"`` or ``"python"``), loaded on
    first use. Raises `ValueError` for another name, `ImportError` when the
    compiled engine is not built or ``IOLOOP_NO_EXTENSIONS=1`` rules it out."""
    if name not in _MODULES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, NAMES))}, not {name!r}")
    engine = _loaded.get(name)
    if engine is not None:
        return engine
    if name == "cython" and _env_flag("IOLOOP_NO_EXTENSIONS"):
        raise ImportError("IOLOOP_NO_EXTENSIONS=1: the compiled engine is not used in "
                          "this process", name="ioloop._core")
    return _load(name)


def available() -> list[str]:
    """The names of the engines this process can run, default first."""
    names = [default.name]
    for name in NAMES:
        if name not in names:
            try:
                get(name)
            except ImportError:
                continue
            names.append(name)
    return names


def _choose_default() -> Engine:
    if _env_flag("IOLOOP_NO_EXTENSIONS"):
        return _load("python")
    try:
        return _load("cython")
    except ImportError as _core_error:
        # setup.py records in the built package (not in a source tree)
        # whether it built the extension, and why not.
        try:
            from ._build_info import (  # pyright: ignore[reportMissingImports]
                EXTENSION_ERROR as _build_error)
            _built = _build_error is None
        except ImportError:
            _build_error = _built = None
        if _build_error is not None:
            _why = ("the extension was not built when this copy of ioloop was installed "
                    f"({_build_error})")
        elif _built:
            _why = f"the extension was built but cannot be imported ({_core_error})"
        else:
            _why = f"{_core_error} (in {os.path.dirname(__file__)})"
        if _env_flag("IOLOOP_REQUIRE_EXTENSIONS"):
            raise ImportError(
                "IOLOOP_REQUIRE_EXTENSIONS=1, but ioloop's compiled engine "
                f"ioloop._core is missing: {_why}.\n"
                "To fix it: install a binary wheel (pip install --force-reinstall "
                "--only-binary ioloop-epoll ioloop-epoll); or build from source with "
                "a C compiler and the Python headers installed (pip install "
                "--force-reinstall --no-cache-dir --no-binary ioloop-epoll "
                "ioloop-epoll, or `pip install .` / `python setup.py build_ext "
                "--inplace` in a checkout); or unset IOLOOP_REQUIRE_EXTENSIONS "
                "to run on the pure-Python engine.",
                name="ioloop._core",
            ) from _core_error
        if _built is not None:
            # A built package without its engine is an install problem the
            # user should hear about; a source tree without one is not.
            import warnings
            warnings.warn(
                f"ioloop is running on its slower pure-Python engine, because {_why}. "
                "Reinstall with a C compiler and the Python headers, or from a wheel; "
                "set IOLOOP_NO_EXTENSIONS=1 to choose the pure-Python engine and "
                "silence this warning.",
                RuntimeWarning,
            )
        return _load("python")


#: The engine ``ioloop.IOLoop`` runs on, chosen when ``ioloop`` is imported.
default = _choose_default()
#: Its name: ``ioloop.implementation``.
implementation = default.name
