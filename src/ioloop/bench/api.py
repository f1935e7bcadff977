"""The names the scripts in the repository's ``bench/`` directory
(``instructions.py``, ``tornado_http.py``) use, so that they need none of
the benchmark's private helpers: which ioloop and engine ``import ioloop``
gives, the refusal to measure a pure-Python engine passed off as ioloop's,
the loops under test, the chain workload, the application servers, the C
tools' build and the output's wrapping. Nothing else in the benchmark is
meant for use outside the package."""

import os

import sys

from .app import _body_len, _get
from .config import APP_LOOPS, APP_WORKLOADS, WIDTH
from .loadgen import _build_c_tools
from .peers import _engine_text, _ioloop_identity, _make_api, _python_engine_refusal
from .report import _wrap
from .workloads import _chain

__all__ = ["WIDTH", "APP_WORKLOADS", "APP_LOOPS", "ioloop_identity", "engine_text",
           "python_engine_refusal", "wrap", "loop_api", "chain", "app_server_command",
           "app_body_len", "http_get", "build_c_tools", "c_tool_path"]


def ioloop_identity():
    """Which ioloop ``import ioloop`` gives: a dict with ``implementation``
    ("cython": the compiled engine, "python": the pure-Python one),
    ``version``, ``file`` (the package's ``__init__.py``), ``engine_file``,
    ``python_engine_asked`` (``IOLOOP_NO_EXTENSIONS=1``) and
    ``extension_error`` (why the compiled engine did not load, when it did
    not and was not asked to)."""
    return _ioloop_identity()


def engine_text(ident, short=False):
    """The engine of ``ident`` (from :func:`ioloop_identity`) in a few words;
    ``short``: without the compiled engine's file name."""
    return _engine_text(ident, short)


def python_engine_refusal(ident, what="the ioloop rows"):
    """Why measuring ``ident``'s ioloop would mislead (its compiled engine
    did not load and the pure-Python one was not asked for), as a sentence
    naming ``what`` would be measured; None when it would not."""
    return _python_engine_refusal(ident, what)


def wrap(text, width, indent="", first=None):
    """``text`` wrapped to ``width`` columns (None: one line), the first
    line led by ``first`` (default ``indent``), the others by ``indent``;
    words (paths) are never broken."""
    return _wrap(text, width, indent, first)


def loop_api(name, asyncio_api=False):
    """A new loop of peer ``name`` (``ioloop``, ``ioloop-asyncio``,
    ``ioloop-watchdog``, ``ioloop-py``, ``asyncio``, ``uvloop``, ``rloop``,
    ``tornado``) behind the benchmark's call wrapper: ``.loop`` (the loop
    itself), ``.soon(f)``, ``.threadsafe(f)``, ``.later(delay, f)``,
    ``.run()``, ``.stop()``, ``.close()``, ``.classic`` (Tornado-style
    API). ``ioloop-watchdog``: ioloop with ``set_blocking_threshold(0.1)``.
    ``asyncio_api``: ioloop through its asyncio face (for the asyncio server
    APIs)."""
    return _make_api(name, asyncio_api)


def chain(api, n):
    """The ``chain`` workload on ``api`` (from :func:`loop_api`): ``n``
    callbacks, each scheduling the next. Returns how many did not run."""
    return _chain(api, n)


def app_server_command(workload, loop_name):
    """The command that runs the application server of ``workload`` (one
    of ``APP_WORKLOADS``) on ``loop_name`` (one of ``APP_LOOPS``): it
    prints ``{"port": ...}``, serves ``GET /`` (a body of
    :func:`app_body_len` bytes) and ``GET /loop`` (a JSON description of
    the loop serving it), and exits when its stdin closes."""
    return [sys.executable, "-m", "ioloop.bench", "--app-server", workload, loop_name]


def app_body_len(workload):
    """The length of the body an application server answers ``GET /`` with."""
    return _body_len(workload)


def http_get(port, path, timeout):
    """``GET path`` from 127.0.0.1:``port`` on a fresh connection:
    ``(status, body)``."""
    return _get(port, path, timeout)


def build_c_tools(directory, names=None):
    """Compile the benchmark's C programs ``names`` (default: all; see
    :func:`c_tool_path` for their names) into ``directory``; returns
    ``{"ok", "compiler", "error", "dir", "tools"}``."""
    return _build_c_tools(directory, names)


def c_tool_path(info, name):
    """The path of the compiled C program ``name`` (``"echo_load"``: the
    echo load generator, ``"echo_server"``: the C echo server,
    ``"http_load"``: the HTTP load generator) in a build ``info`` from
    :func:`build_c_tools`."""
    return os.path.join(info["dir"], name)
