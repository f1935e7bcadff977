"""Engine selection: ``ioloop.implementation`` and the env switches
(docs/behaviour.md "Engines")."""

import asyncio
import glob
import os
import subprocess
import sys

import pytest

import ioloop

from support import SRC

# What the engine chosen at import shows: the README's test command runs this
# module in both of its runs (the second with the twin as the default).
pytestmark = [pytest.mark.timeout(120), pytest.mark.default_engine]

PKG = os.path.dirname(ioloop.__file__)


def _flag(name):
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _extension_built():
    return bool(glob.glob(os.path.join(PKG, "_core*.so")))


def _child(code, **env_changes):
    env = dict(os.environ)
    env.pop("IOLOOP_NO_EXTENSIONS", None)
    env.pop("IOLOOP_REQUIRE_EXTENSIONS", None)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_changes)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)


def test_implementation_value():
    assert ioloop.implementation in ("cython", "python")


@pytest.mark.skipif(not _flag("IOLOOP_REQUIRE_EXTENSIONS"),
                    reason="only when IOLOOP_REQUIRE_EXTENSIONS=1 (the Cython CI run)")
def test_require_extensions_means_cython():
    assert not _flag("IOLOOP_NO_EXTENSIONS"), "both switches set"
    assert ioloop.implementation == "cython"


@pytest.mark.skipif(not _flag("IOLOOP_NO_EXTENSIONS"),
                    reason="only when IOLOOP_NO_EXTENSIONS=1 (the pure-Python run)")
def test_no_extensions_means_python():
    assert ioloop.implementation == "python"


def test_selected_engine_is_the_base_of_ioloop():
    from ioloop import _engine_py
    if ioloop.implementation == "cython":
        from ioloop import _core
        engine = _core
    else:
        engine = _engine_py
    assert issubclass(ioloop.IOLoop, engine.Loop)
    assert ioloop.Handle is engine.Handle
    assert ioloop.TimerHandle is engine.TimerHandle
    lp = ioloop.IOLoop()
    try:
        assert isinstance(lp.call_later(10, lambda: None), engine.TimerHandle)
        assert isinstance(lp.call_soon(lambda: None), engine.Handle)
    finally:
        lp.close()


def test_subprocess_no_extensions_prints_python():
    r = _child("import ioloop; print(ioloop.implementation)", IOLOOP_NO_EXTENSIONS="1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "python"


def test_subprocess_no_extensions_wins_over_require():
    r = _child("import ioloop; print(ioloop.implementation)",
               IOLOOP_NO_EXTENSIONS="1", IOLOOP_REQUIRE_EXTENSIONS="1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "python"


@pytest.mark.skipif(not _extension_built(), reason="the Cython extension is not built")
def test_subprocess_default_and_require_use_cython_when_built():
    r = _child("import ioloop; print(ioloop.implementation)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "cython"
    r = _child("import ioloop; print(ioloop.implementation)", IOLOOP_REQUIRE_EXTENSIONS="1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "cython"


def test_subprocess_require_extensions_fails_loudly_without_extension():
    """With the extension made unimportable, REQUIRE turns the silent
    fallback into an ImportError; without REQUIRE it falls back."""
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'ioloop._core':\n"
        "            raise ImportError('blocked for the test')\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    r = _child(blocker + "import ioloop; print(ioloop.implementation)",
               IOLOOP_REQUIRE_EXTENSIONS="1")
    assert r.returncode != 0
    assert "ImportError" in r.stderr
    r = _child(blocker + "import ioloop; print(ioloop.implementation)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "python"


@pytest.mark.skipif(not _extension_built(), reason="the Cython extension is not built")
def test_both_engines_expose_the_same_api():
    from ioloop import _core, _engine_py

    def public(cls):
        return {n for n in dir(cls) if not n.startswith("_")} | (
            {"_timer_count", "_signal_wakeup_fd", "_handler_objects", "_run",
             "_close", "_mark_closed"} & set(dir(cls)))

    py_names = public(_engine_py.Loop)
    cy_names = public(_core.Loop)
    # slow_callback_duration is an instance attribute in the twin.
    twin = _engine_py.Loop()
    try:
        py_names |= {n for n in vars(twin) if not n.startswith("_")}
    finally:
        twin._close()
    assert py_names == cy_names
    for name in ("_timer_count", "_signal_wakeup_fd", "reinit_after_fork"):
        assert name in cy_names
    for cls_name in ("Handle", "TimerHandle"):
        py = {n for n in dir(getattr(_engine_py, cls_name)) if not n.startswith("_")}
        cy = {n for n in dir(getattr(_core, cls_name)) if not n.startswith("_")}
        # Cython handles hide their fields; the methods must match.
        assert {n for n in py if callable(getattr(getattr(_engine_py, cls_name), n))} == cy


def test_no_extensions_imports_nothing_compiled():
    """IOLOOP_NO_EXTENSIONS=1: importing ioloop and making, running and
    closing a loop (with a TCP connection) never imports ioloop._core."""
    code = (
        "import asyncio, sys, ioloop\n"
        "lp = ioloop.IOLoop()\n"
        "async def main():\n"
        "    srv = await asyncio.start_server(lambda r, w: w.close(), '127.0.0.1', 0)\n"
        "    r, w = await asyncio.open_connection(*srv.sockets[0].getsockname()[:2])\n"
        "    await r.read()\n"
        "    w.close()\n"
        "    srv.close()\n"
        "    await srv.wait_closed()\n"
        "lp.run_until_complete(main())\n"
        "lp.close()\n"
        "print(ioloop.implementation, sorted(m for m in sys.modules if m.startswith('ioloop.')))\n"
    )
    r = _child(code, IOLOOP_NO_EXTENSIONS="1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("python "), r.stdout
    assert "ioloop._core" not in r.stdout, r.stdout
    assert "ioloop._engine_py" in r.stdout, r.stdout


def test_engines_default_is_implementation():
    from ioloop import _engines
    assert _engines.default.name == ioloop.implementation
    assert _engines.get(ioloop.implementation) is _engines.default
    assert _engines.available()[0] == ioloop.implementation
    assert set(_engines.available()) <= set(_engines.NAMES)
    assert "python" in _engines.available()


def test_engines_get_rejects_unknown_names():
    from ioloop import _engines
    with pytest.raises(ValueError, match="engine must be one of 'cython', 'python', not 'rust'"):
        _engines.get("rust")


@pytest.mark.skipif(not _flag("IOLOOP_NO_EXTENSIONS"),
                    reason="only when IOLOOP_NO_EXTENSIONS=1 (the pure-Python run)")
def test_no_extensions_rules_out_the_compiled_engine_on_request():
    from ioloop import _engines
    from ioloop._loop import loop_class
    assert _engines.available() == ["python"]
    with pytest.raises(ImportError, match="IOLOOP_NO_EXTENSIONS=1"):
        _engines.get("cython")
    with pytest.raises(ImportError, match="IOLOOP_NO_EXTENSIONS=1"):
        loop_class("cython")


def test_loop_class_of_the_default_engine_is_ioloop():
    from ioloop._loop import loop_class
    assert loop_class(ioloop.implementation) is ioloop.IOLoop


@pytest.mark.parametrize("name", ["cython", "python"])
def test_loop_class_is_an_ioloop_on_that_engine(name):
    from ioloop import _engines
    from ioloop._loop import loop_class
    if name not in _engines.available():
        pytest.skip(f"the {name} engine is not available in this process")
    cls = loop_class(name)
    assert loop_class(name) is cls  # made once
    engine = _engines.get(name)
    assert issubclass(cls, engine.Loop)
    assert issubclass(cls, ioloop.IOLoop)
    assert cls.__name__ == "IOLoop"
    assert cls.__doc__ == ioloop.IOLoop.__doc__
    lp = cls()
    try:
        assert isinstance(lp, ioloop.IOLoop)
        assert isinstance(lp, asyncio.AbstractEventLoop)
        assert repr(lp).startswith(f"<IOLoop engine={name} ")
        assert isinstance(lp.call_soon(lambda: None), engine.Handle)
        assert isinstance(lp.call_later(10, lambda: None), engine.TimerHandle)
        # The classic API's current loop, and asyncio's running loop.
        seen = {}

        async def main():
            seen["current"] = ioloop.IOLoop.current()
            seen["running"] = asyncio.get_running_loop()

        lp.run_sync(main)
        assert seen == {"current": lp, "running": lp}
        lp.make_current()
        assert ioloop.IOLoop.current() is lp
        ioloop.IOLoop.clear_current()
        lp.install()
        assert ioloop.IOLoop.instance() is lp
    finally:
        ioloop.IOLoop.clear_instance()
        lp.close()


def test_an_asyncio_loop_is_not_an_ioloop():
    lp = asyncio.new_event_loop()
    try:
        assert not isinstance(lp, ioloop.IOLoop)
        assert not issubclass(type(lp), ioloop.IOLoop)
        assert not isinstance(object(), ioloop.IOLoop)
    finally:
        lp.close()


@pytest.mark.skipif(not _extension_built() or _flag("IOLOOP_NO_EXTENSIONS"),
                    reason="needs both engines in this process")
def test_stream_transport_follows_the_loops_engine():
    """A loop on the twin runs its stream transports on the Python core even
    when the process's default engine is the compiled one, and the other way
    round."""
    from ioloop import _core, _transports
    from ioloop._loop import loop_class
    kinds = {}
    for name in ("cython", "python"):
        lp = loop_class(name)()
        try:
            async def main():
                srv = await lp.create_server(asyncio.Protocol, "127.0.0.1", 0)
                tr, _ = await lp.create_connection(asyncio.Protocol,
                                                   *srv.sockets[0].getsockname()[:2])
                kinds[name] = type(tr._core)
                tr.close()
                srv.close()
                await srv.wait_closed()
            lp.run_until_complete(main())
        finally:
            lp.close()
    assert kinds["cython"] is _core.StreamCore
    assert kinds["python"] is _transports.StreamCore
