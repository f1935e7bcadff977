"""help() documents the public API, the same way on both engines.

- Every public class, method and function (of ``IOLoop``,
  ``PeriodicCallback``, ``Handle``, ``TimerHandle``, ``EventLoopPolicy``
  and the module) has a docstring that ``inspect.getdoc`` (hence help())
  finds on the engine under test. The names are listed from the objects
  themselves, so a new public method without a docstring fails here.
- The engine's methods carry the same text in the pure-Python twin
  (``_engine_py.py``), the Cython engine (``_core.pyx``, when built) and
  the stub of the compiled module (``_core.pyi``, what IDEs show).
- pydoc's text for the package and for ``IOLoop`` shows no Cython
  internals and no ``<object object at 0x...>`` default.
"""

import ast
import inspect
import pydoc
from pathlib import Path

import pytest

import ioloop
from ioloop import _engine_py

try:
    from ioloop import _core
except ImportError:  # the extension is not built
    _core = None

needs_core = pytest.mark.skipif(_core is None, reason="the Cython engine is not built")


def _public_callables(cls):
    """Public methods, properties and nested classes of ``cls``, inherited ones included."""
    names = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        value = inspect.getattr_static(cls, name)
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if callable(value) or isinstance(value, property) or inspect.isgetsetdescriptor(value):
            names.append(name)
    return sorted(names)


def _documented_objects():
    items = []
    for name in ioloop.__all__:
        obj = getattr(ioloop, name)
        if obj is None or not (callable(obj)):
            continue  # ``implementation`` (a str); EventLoopPolicy where asyncio has none
        items.append((f"ioloop.{name}", obj))
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for meth in _public_callables(obj):
                items.append((f"ioloop.{name}.{meth}", getattr(obj, meth)))
    return items


DOCUMENTED = _documented_objects()


@pytest.mark.parametrize("qualname,obj", DOCUMENTED, ids=[q for q, _ in DOCUMENTED])
def test_public_object_has_docstring(qualname, obj):
    doc = inspect.getdoc(obj)
    assert doc and doc.strip(), f"{qualname} has no docstring (engine: {ioloop.implementation})"


def test_module_docstring_names_every_export():
    doc = inspect.getdoc(ioloop)
    missing = [name for name in ioloop.__all__ if f"``{name}``" not in doc]
    assert not missing, f"the ioloop module docstring does not mention {missing}"


# -- one text for both engines and the stub -------------------------------------------

ENGINE_CLASSES = ["Loop", "Handle", "TimerHandle"]


def _engine_methods(cls_name):
    return _public_callables(getattr(_engine_py, cls_name))


ENGINE_METHODS = [(c, m) for c in ENGINE_CLASSES for m in _engine_methods(c)]
ENGINE_IDS = [f"{c}.{m}" for c, m in ENGINE_METHODS]


def _stub_docs():
    """{"Class.method": docstring} from _core.pyi (the first overload that
    has one)."""
    path = Path(ioloop.__file__).with_name("_core.pyi")
    tree = ast.parse(path.read_text())
    docs = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            docs.setdefault(node.name, ast.get_docstring(node))
            for f, after in zip(node.body, node.body[1:] + [None]):
                if isinstance(f, ast.FunctionDef):
                    doc = ast.get_docstring(f)
                    if doc:
                        docs.setdefault(f"{node.name}.{f.name}", doc)
                elif (isinstance(f, ast.AnnAssign) and isinstance(f.target, ast.Name)
                      and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                      and isinstance(after.value.value, str)):
                    # An attribute's docstring: the string right after it.
                    docs.setdefault(f"{node.name}.{f.target.id}",
                                    inspect.cleandoc(after.value.value))
    return docs


STUB_DOCS = _stub_docs()


def test_engine_methods_found():
    # The twin is the reference list: make sure it is not empty by accident.
    assert {"add_handler", "add_timeout", "add_callback", "call_later"} <= set(_engine_methods("Loop"))
    assert {"cancel", "when"} <= set(_engine_methods("TimerHandle"))


@pytest.mark.parametrize("cls_name", ENGINE_CLASSES)
@needs_core
def test_engines_have_the_same_public_methods(cls_name):
    assert _public_callables(getattr(_core, cls_name)) == _engine_methods(cls_name)


@pytest.mark.parametrize("cls_name,name", ENGINE_METHODS, ids=ENGINE_IDS)
def test_twin_method_docstring(cls_name, name):
    doc = inspect.getdoc(getattr(getattr(_engine_py, cls_name), name))
    assert doc and doc.strip(), f"_engine_py.{cls_name}.{name} has no docstring"


@pytest.mark.parametrize("cls_name,name", ENGINE_METHODS, ids=ENGINE_IDS)
@needs_core
def test_cython_docstring_is_the_twins(cls_name, name):
    twin = inspect.getdoc(getattr(getattr(_engine_py, cls_name), name))
    compiled = inspect.getdoc(getattr(getattr(_core, cls_name), name))
    assert compiled == twin, f"_core.{cls_name}.{name} and _engine_py differ"


@pytest.mark.parametrize("cls_name,name", ENGINE_METHODS, ids=ENGINE_IDS)
def test_stub_docstring_is_the_twins(cls_name, name):
    twin = inspect.getdoc(getattr(getattr(_engine_py, cls_name), name))
    assert STUB_DOCS.get(f"{cls_name}.{name}") == twin, \
        f"_core.pyi's {cls_name}.{name} and _engine_py differ"


@pytest.mark.parametrize("cls_name", ["Handle", "TimerHandle"])
def test_handle_class_docstrings_agree(cls_name):
    twin = inspect.getdoc(getattr(_engine_py, cls_name))
    assert STUB_DOCS.get(cls_name) == twin
    if _core is not None:
        assert inspect.getdoc(getattr(_core, cls_name)) == twin


# -- what help() prints ----------------------------------------------------------------

CYTHON_INTERNALS = ("__pyx", "capsule")


@pytest.mark.parametrize("target", ["ioloop", "ioloop.IOLoop"])
def test_help_shows_no_cython_internals(target):
    text = pydoc.render_doc(pydoc.locate(target), renderer=pydoc.plaintext)
    found = [line.strip() for line in text.splitlines()
             if any(word in line for word in CYTHON_INTERNALS)]
    assert not found, f"help({target}) on the {ioloop.implementation} engine shows: {found}"


@pytest.mark.parametrize("target", ["ioloop", "ioloop.IOLoop"])
def test_help_shows_no_object_addresses(target):
    text = pydoc.render_doc(pydoc.locate(target), renderer=pydoc.plaintext)
    found = [line.strip() for line in text.splitlines() if "object at 0x" in line]
    assert not found, f"help({target}) shows object addresses: {found}"


def test_loop_subclass_still_works_without_the_vtable_entry():
    """The Cython engine drops Loop's ``__pyx_vtable__`` entry after import;
    a subclass made afterwards still gets the C method table (its hot
    methods, add_callback and timers, work)."""
    class Sub(ioloop.IOLoop):
        pass

    loop = Sub()
    try:
        ran = []
        loop.add_callback(ran.append, 1)
        loop.call_later(0, ran.append, 2)
        loop.add_timeout(loop.time(), lambda: (ran.append(3), loop.stop()))
        loop.start()
        assert ran == [1, 2, 3]
    finally:
        loop.close()
    if _core is not None:
        assert "__pyx_vtable__" not in vars(_core.Loop)
