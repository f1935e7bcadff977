"""Engine selection: ``ioloop.implementation`` and the env switches
(docs/behaviour.md "Engines")."""

import glob
import os
import subprocess
import sys

import pytest

import ioloop

from support import SRC

pytestmark = pytest.mark.timeout(120)

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
