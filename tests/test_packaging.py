"""Packaging: what the sdist and the installed package carry.

- The sdist carries every file ``_core.pyx`` needs to compile (the ``.pxi``
  files it ``include``s, the ``.pxd`` files it cimports from the package,
  transitively) and no generated file.
- The installed package ships ``_core.pyi`` and ``py.typed`` with the
  compiled engine, and its metadata version is ``ioloop.__version__``.
- A failed extension build falls back to the pure-Python engine, records
  why in the built package, and ``import ioloop`` reports it.

Tests that need the source checkout (pyproject.toml, setup.py, src/) skip
when the tests run from elsewhere, except under ``CI=true``, where a skip
would hide a broken package and fails instead.
"""

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import ioloop

from support import SRC

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parent.parent
PKG_SRC = ROOT / "src" / "ioloop"
CORE_PYX = PKG_SRC / "_core.pyx"
DIST_NAME = "ioloop-epoll"


def _flag(name):
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def skip_unless_ci(reason):
    """Skip, or under CI=true (where every packaging test must run) fail."""
    if _flag("CI"):
        pytest.fail(f"{reason} (CI=true: this packaging test must run)")
    pytest.skip(reason)


def need_checkout():
    missing = [p for p in ("pyproject.toml", "setup.py", "MANIFEST.in", "src/ioloop/_core.pyx")
               if not (ROOT / p).is_file()]
    if missing:
        skip_unless_ci(f"not run from a source checkout ({', '.join(missing)} missing)")


def need_setuptools():
    try:
        import setuptools
    except ImportError:
        skip_unless_ci("setuptools is not installed (pip install '.[test]')")
    if int(setuptools.__version__.split(".")[0]) < 77:
        skip_unless_ci(f"setuptools>=77 is needed, this is {setuptools.__version__} "
                       "(pip install '.[test]')")


def clean_env(**changes):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("IOLOOP_") and k != "PYTHONWARNINGS"}
    env.update(changes)
    return env


# -- what _core.pyx needs ----------------------------------------------------------------

_INCLUDE = re.compile(r"""^\s*include\s+["']([^"']+)["']""", re.M)
_FROM_CIMPORT = re.compile(r"^\s*from\s+(\.+[\w.]*|ioloop\b[\w.]*)\s+cimport\s+(.+)$", re.M)
_CIMPORT = re.compile(r"^\s*cimport\s+(ioloop\.[\w.]+)", re.M)


def _without_comments(text):
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def cython_sources(pyx, package_dir):
    """Every file of the package that compiling ``pyx`` reads: the .pyx, its
    .pxd twin, the files it ``include``s and the package .pxd files it
    cimports (with the ``__init__`` files that make their directories
    packages), followed transitively. Paths relative to ``package_dir``'s
    parent; standard-library cimports (libc, cpython, posix...) are not the
    package's and are left out."""
    package_dir = Path(package_dir)
    base = package_dir.parent
    found = set()

    def module_file(parts):
        # cimported module a.b.c (relative to the package) -> a/b/c.pxd, plus
        # the __init__ of every package on the way.
        for i in range(1, len(parts)):
            pkg = package_dir.joinpath(*parts[:i])
            inits = [pkg / "__init__.pxd", pkg / "__init__.py"]
            existing = [p for p in inits if p.exists()]
            # A missing marker is reported as its .pxd form.
            yield existing[0] if existing else inits[0]
        yield package_dir.joinpath(*parts).with_suffix(".pxd")

    def visit(path):
        if path in found:
            return
        found.add(path)
        if not path.exists():
            return  # reported missing by the caller; nothing to follow
        text = _without_comments(path.read_text(encoding="utf-8"))
        here = path.parent
        deps = [here / name for name in _INCLUDE.findall(text)]
        for module, names in _FROM_CIMPORT.findall(text):
            if module.startswith("."):
                dots = len(module) - len(module.lstrip("."))
                anchor = here
                for _ in range(dots - 1):
                    anchor = anchor.parent
                rel = anchor.relative_to(package_dir).parts
                rest = [p for p in module.lstrip(".").split(".") if p]
            else:
                rel = ()
                rest = module.split(".")[1:]
            if rest:
                deps.extend(module_file(list(rel) + rest))
            else:  # from . cimport a, b: the names are modules
                for name in re.findall(r"\b(\w+)\b", names.split(" as ")[0]):
                    deps.extend(module_file(list(rel) + [name]))
        for module in _CIMPORT.findall(text):
            deps.extend(module_file(module.split(".")[1:]))
        twin = path.with_suffix(".pxd")
        if path.suffix == ".pyx":
            deps.append(twin)
        for dep in deps:
            if dep.suffix in (".pyx", ".pxi", ".pxd") or dep.name == "__init__.py":
                if dep == twin and not dep.exists():
                    continue  # a .pyx need not have a .pxd
                visit(dep)

    visit(Path(pyx))
    return sorted(str(p.relative_to(base)).replace(os.sep, "/") for p in found)


def test_cython_sources_follows_includes_and_cimports(tmp_path):
    pkg = tmp_path / "ioloop"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "m.pyx").write_text(
        "from libc.stdint cimport uint32_t\n"
        "from .sub.decl cimport thing  # a comment: include \"no.pxi\"\n"
        "from ioloop.other cimport x\n"
        "include \"part.pxi\"\n")
    (pkg / "m.pxd").write_text("cimport ioloop.third\n")
    (pkg / "part.pxi").write_text("include \"inner.pxi\"\n")
    (pkg / "inner.pxi").write_text("")
    (pkg / "sub" / "__init__.pxd").write_text("")
    (pkg / "sub" / "decl.pxd").write_text("from .. cimport fourth\n")
    for name in ("other", "third", "fourth"):
        (pkg / f"{name}.pxd").write_text("")
    assert cython_sources(pkg / "m.pyx", pkg) == sorted([
        "ioloop/m.pyx", "ioloop/m.pxd", "ioloop/part.pxi", "ioloop/inner.pxi",
        "ioloop/sub/__init__.pxd", "ioloop/sub/decl.pxd", "ioloop/other.pxd",
        "ioloop/third.pxd", "ioloop/fourth.pxd",
    ])
    # A missing file is still listed, so the sdist check reports it.
    (pkg / "inner.pxi").unlink()
    assert "ioloop/inner.pxi" in cython_sources(pkg / "m.pyx", pkg)


# -- the sdist ---------------------------------------------------------------------------

# Build products planted in the copy the sdist is made from, as an in-place
# build leaves them: none may reach the sdist.
PLANTED = ["src/ioloop/_core.c", "src/ioloop/_core.cpython-3x-x86_64-linux-gnu.so",
           "src/ioloop/_core.html", "src/ioloop/includes/linux.c"]
# The one directory of hand-written C: the benchmark's programs, compiled
# at run time. They are sources and ship.
BENCH_CSRC = "src/ioloop/bench/csrc"


def _ignore_build_products(directory, names):
    """shutil.copytree's ignore: the build products, but not the benchmark's
    C sources."""
    ignored = shutil.ignore_patterns(
        ".git", ".venv", "venv", "build", "dist", "wheelhouse", "*.egg-info", "__pycache__",
        ".hypothesis", ".pytest_cache", ".mypy_cache", "*.so", "*.c", "*.html")(directory, names)
    if Path(directory) == ROOT / BENCH_CSRC:
        ignored = {n for n in ignored if not n.endswith(".c")}
    return ignored


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    """(member names relative to the sdist's top directory, PKG-INFO text)
    of an sdist built from a copy of this checkout."""
    need_checkout()
    need_setuptools()
    tmp = tmp_path_factory.mktemp("sdist")
    tree = tmp / "tree"
    # A copy: building writes egg-info and a staging directory into the tree.
    shutil.copytree(ROOT, tree, ignore=_ignore_build_products)
    for rel in PLANTED:
        (tree / rel).write_text("generated\n")
    code = ("import sys, setuptools.build_meta as backend\n"
            "print(backend.build_sdist(sys.argv[1]))\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp / "dist")], cwd=tree,
                          env=clean_env(), capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    name = proc.stdout.strip().splitlines()[-1]
    with tarfile.open(tmp / "dist" / name) as tar:
        members = tar.getnames()
        top = members[0].split("/")[0]
        pkg_info = tar.extractfile(f"{top}/PKG-INFO").read().decode()
    names = {m.split("/", 1)[1] for m in members if "/" in m}
    return names, pkg_info


def test_sdist_carries_every_cython_source_of_core(sdist):
    names, _ = sdist
    needed = ["src/" + p for p in cython_sources(CORE_PYX, PKG_SRC)]
    # The parser must see what _core.pyx is known to need (it cannot pass
    # by finding nothing).
    for known in ("src/ioloop/_core.pyx", "src/ioloop/_core.pxd", "src/ioloop/_stream.pxi",
                  "src/ioloop/includes/linux.pxd"):
        assert known in needed, needed
    missing = [p for p in needed if p not in names]
    assert not missing, ("missing from the sdist (see MANIFEST.in and package-data in "
                         f"pyproject.toml): {missing}")
    for p in needed:  # and they exist in the checkout, so the list is real
        assert (ROOT / p).is_file(), p


def test_sdist_carries_the_package_and_no_build_products(sdist):
    names, _ = sdist
    for p in ("pyproject.toml", "setup.py", "README.md", "LICENSE", "src/ioloop/py.typed",
              "src/ioloop/_core.pyi", "src/ioloop/__init__.py", "tests/conftest.py"):
        assert p in names, p
    generated = sorted(n for n in names
                       if n.endswith((".c", ".so", ".o", ".html", ".pyc"))
                       and not n.startswith(BENCH_CSRC + "/")
                       or "__pycache__" in n or n.endswith("_build_info.py"))
    assert not generated, generated
    # The benchmark's C programs are sources: every one ships.
    csrc = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / BENCH_CSRC).glob("*.[ch]"))
    assert csrc, f"no C source in {BENCH_CSRC}"
    assert [p for p in csrc if p not in names] == [], csrc


def test_sdist_metadata_version_is_the_package_version(sdist):
    _, pkg_info = sdist
    text = (PKG_SRC / "__init__.py").read_text(encoding="utf-8")
    source = re.findall(r'^__version__ = "([^"]+)"$', text, re.M)
    assert len(source) == 1, "one literal __version__ in src/ioloop/__init__.py"
    assert re.search(rf"^Version: {re.escape(source[0])}$", pkg_info, re.M), pkg_info[:400]
    assert re.search(r"^License-Expression: MIT$", pkg_info, re.M), pkg_info[:400]


# -- the installed package ---------------------------------------------------------------

def installed_distribution():
    """The installed distribution ``ioloop`` was imported from, or None
    (a source tree on PYTHONPATH)."""
    try:
        dist = importlib.metadata.distribution(DIST_NAME)
    except importlib.metadata.PackageNotFoundError:
        return None
    init = Path(dist.locate_file("ioloop/__init__.py")).resolve()
    return dist if init == Path(ioloop.__file__).resolve() else None


def test_installed_version_is_ioloop_version():
    dist = installed_distribution()
    if dist is None:
        skip_unless_ci(f"ioloop is imported from {ioloop.__file__}, not an installed "
                       f"{DIST_NAME} distribution")
    assert dist.version == ioloop.__version__


def test_installed_package_ships_stub_and_py_typed():
    if importlib.util.find_spec("ioloop._core") is None:
        assert not _flag("IOLOOP_REQUIRE_EXTENSIONS"), "the Cython engine is not built"
        pytest.skip("the Cython engine is not built")
    pkg = Path(ioloop.__file__).parent
    assert (pkg / "_core.pyi").is_file()
    assert (pkg / "py.typed").is_file()
    dist = installed_distribution()
    if dist is not None:  # and the installer recorded them
        files = {str(f).replace(os.sep, "/") for f in dist.files}
        assert {"ioloop/_core.pyi", "ioloop/py.typed"} <= files
        assert any(re.fullmatch(r"ioloop/_core\..*\.so", f) for f in files), sorted(files)


# -- a failed build ----------------------------------------------------------------------

def test_failed_build_falls_back_and_records_why(tmp_path):
    """A Cython error (here: an included .pxi is missing, which Cython
    reports as an InternalError) is a soft failure: build_ext succeeds
    without ioloop._core and writes the reason into the built package.
    Under IOLOOP_REQUIRE_EXTENSIONS=1 the same build fails."""
    need_checkout()
    need_setuptools()
    if importlib.util.find_spec("Cython") is None:
        skip_unless_ci("Cython is not installed (pip install '.[test]')")
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns(
        "__pycache__", "*.so", "*.c", "*.html", "*.egg-info"))
    for name in ("setup.py", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tree / name)
    (tree / "src" / "ioloop" / "_stream.pxi").unlink()
    lib = tmp_path / "lib"
    cmd = [sys.executable, "setup.py", "build_ext", "--build-lib", str(lib),
           "--build-temp", str(tmp_path / "temp")]

    proc = subprocess.run(cmd, cwd=tree, env=clean_env(), capture_output=True, text=True,
                          timeout=150)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "the ioloop._core extension could not be built" in proc.stderr, proc.stderr[-3000:]
    assert "_stream.pxi" in proc.stderr
    assert not list(lib.glob("ioloop/_core*.so"))
    info = (lib / "ioloop" / "_build_info.py").read_text()
    namespace = {}
    exec(info, namespace)
    assert "_stream.pxi" in namespace["EXTENSION_ERROR"], info

    proc = subprocess.run(cmd, cwd=tree, env=clean_env(IOLOOP_REQUIRE_EXTENSIONS="1"),
                          capture_output=True, text=True, timeout=150)
    assert proc.returncode != 0
    assert ("IOLOOP_REQUIRE_EXTENSIONS=1 but the ioloop._core extension failed to build"
            in proc.stderr), proc.stderr[-3000:]


# -- what `import ioloop` says without its engine ----------------------------------------

_BLOCK_CORE = (
    "import sys, types\n"
    "class Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'ioloop._core':\n"
    "            raise ImportError('blocked for the test')\n"
    "sys.meta_path.insert(0, Block())\n"
)


def _import_without_core(record, **env):
    """Import ioloop in a child with ioloop._core unimportable and the build
    record ``record``: a string (the build failed), None (it was built), or
    "absent" (no record: a source tree)."""
    if record == "absent":
        setup = "sys.modules['ioloop._build_info'] = None\n"
    else:
        setup = ("info = types.ModuleType('ioloop._build_info')\n"
                 f"info.EXTENSION_ERROR = {record!r}\n"
                 "sys.modules['ioloop._build_info'] = info\n")
    code = _BLOCK_CORE + setup + "import ioloop\nprint(ioloop.implementation)\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=clean_env(PYTHONPATH=SRC, **env))


def test_import_warns_when_the_build_recorded_a_failure():
    r = _import_without_core("CompileError: boom")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "python"
    assert "RuntimeWarning" in r.stderr and "pure-Python engine" in r.stderr, r.stderr
    assert "not built when this copy of ioloop was installed (CompileError: boom)" in r.stderr
    assert "IOLOOP_NO_EXTENSIONS=1" in r.stderr


def test_import_warns_when_a_built_extension_cannot_load():
    r = _import_without_core(None)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "python"
    assert "built but cannot be imported (blocked for the test)" in r.stderr, r.stderr


def test_choosing_the_twin_or_a_source_tree_is_silent():
    r = _import_without_core("CompileError: boom", IOLOOP_NO_EXTENSIONS="1")
    assert (r.returncode, r.stdout.strip(), r.stderr) == (0, "python", "")
    r = _import_without_core("absent")
    assert (r.returncode, r.stdout.strip(), r.stderr) == (0, "python", "")


def test_require_extensions_says_what_is_missing_and_how_to_fix_it():
    r = _import_without_core("CompileError: boom", IOLOOP_REQUIRE_EXTENSIONS="1")
    assert r.returncode != 0
    err = r.stderr
    assert "ImportError: IOLOOP_REQUIRE_EXTENSIONS=1, but ioloop's compiled engine " \
           "ioloop._core is missing" in err, err
    assert "(CompileError: boom)" in err
    assert "pip install --force-reinstall" in err and "C compiler" in err
    assert "unset IOLOOP_REQUIRE_EXTENSIONS" in err
    # The original error is chained, not lost.
    assert "blocked for the test" in err
    assert "direct cause of the following exception" in err
    r = _import_without_core("absent", IOLOOP_REQUIRE_EXTENSIONS="1")
    assert r.returncode != 0
    assert "ioloop._core is missing: blocked for the test (in " in r.stderr, r.stderr
