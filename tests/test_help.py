"""help(ioloop.IOLoop) documents the facade and shows nothing of its
internals (on whichever engine this run uses)."""

import inspect
import os
import subprocess
import sys

import pytest

import ioloop
from ioloop import IOLoop

# help() as a user sees it, on the default engine.
pytestmark = [pytest.mark.timeout(60), pytest.mark.default_engine]

FACADE_MODULES = ("ioloop._loop", "ioloop._net", "ioloop._unix")


def facade_methods():
    """(name, function) for every public method IOLoop gets from the facade
    (not from the engine or from asyncio.AbstractEventLoop)."""
    for klass in IOLoop.__mro__:
        if klass.__module__ not in FACADE_MODULES:
            continue
        for name, attr in vars(klass).items():
            if name.startswith("_") and name != "__init__":
                continue
            func = attr.__func__ if isinstance(attr, (staticmethod, classmethod)) else attr
            if inspect.isfunction(func):
                yield name, func


def test_facade_methods_found():
    names = {name for name, _ in facade_methods()}
    assert {"current", "start", "run_sync", "close", "add_future", "create_server",
            "create_connection", "add_signal_handler", "subprocess_exec"} <= names


@pytest.mark.parametrize("name", sorted({name for name, _ in facade_methods()}))
def test_facade_method_has_docstring(name):
    func = dict(facade_methods())[name]
    doc = func.__doc__
    assert doc and len(doc.strip()) > 20, f"IOLoop.{name} has no docstring of its own"


@pytest.mark.parametrize("name", sorted({name for name, _ in facade_methods()}))
def test_facade_method_is_annotated(name):
    func = dict(facade_methods())[name]
    sig = inspect.signature(func)
    missing = [p.name for p in sig.parameters.values()
               if p.name not in ("self", "cls") and p.annotation is inspect.Parameter.empty]
    assert not missing, f"IOLoop.{name}: parameters without annotation: {missing}"
    assert sig.return_annotation is not inspect.Signature.empty, f"IOLoop.{name}: no return type"


def test_help_shows_no_internals():
    # In a fresh interpreter, as a user sees it: code that merely reads
    # ``IOLoop.__annotations__`` (the test tools do) makes Python store an
    # empty dict there, which pydoc would then list.
    code = ("import pydoc, ioloop; "
            "print(pydoc.render_doc(ioloop.IOLoop, renderer=pydoc.plaintext))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=50, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "object at 0x" not in text  # a sentinel default, say
    assert "__annotations__" not in text
    assert "__pyx_vtable__" not in text
    assert "reuse_address: 'bool | None | _Unset' = <unset>" in text
    assert ioloop.implementation in ("cython", "python")
