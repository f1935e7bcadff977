"""Static typing, as a user's type checker sees ioloop.

tests/typing/ holds small programs:

- ``pass_*.py``: correct programs. ``mypy --strict`` and pyright report
  nothing on them (their ``assert_type`` calls check that the types are
  the precise ones, not ``Any``), and they run to the end on the engine
  under test.
- ``fail_*.py``: wrong programs. Each line marked ``# E`` must be reported
  by both checkers, and no other line.
- ``compat_asyncio.py``: the engine's signatures against typeshed's
  ``asyncio.AbstractEventLoop``; only the methods it lists may differ.

pyright is basedpyright (it bundles its Node.js runtime, so it needs no
download) in pyright's "standard" mode. The checkers run in a temporary
directory against the ioloop this Python imports, the installed package or
a source tree on PYTHONPATH, as a user's checker would.

The package itself is checked too: ``mypy --strict`` with pyproject.toml's
``[tool.mypy]`` settings and pyright over src/ioloop, file by file, and
pyright's ``--verifytypes`` over the public API.

The checkers read the same code whichever engine runs, so the static
checks run once, in the compiled-engine run of the suite; the programs run
on both engines.
"""

import ast
import collections
import importlib.util
import json
import os
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

import ioloop

PROGRAMS_DIR = Path(__file__).resolve().parent / "typing"
PASS = sorted(p.name for p in PROGRAMS_DIR.glob("pass_*.py"))
FAIL = sorted(p.name for p in PROGRAMS_DIR.glob("fail_*.py"))
COMPAT = "compat_asyncio.py"
REPO = Path(__file__).resolve().parent.parent
SRC_PKG = REPO / "src" / "ioloop"
PKG_MODULES = sorted(
    p.name for p in SRC_PKG.glob("*.py*")
    if p.suffix in (".py", ".pyi") and p.name != "bench.py")


def _pyright_excluded():
    """Modules the [tool.pyright] table of pyproject.toml leaves out."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = None
    path = REPO / "pyproject.toml"
    if tomllib is None or not path.exists():
        return {"_net.py", "_unix.py", "_transports.py"}
    with open(path, "rb") as f:
        excluded = tomllib.load(f)["tool"]["pyright"]["exclude"]
    return {os.path.basename(p) for p in excluded}


PKG_CHECKS = [(module, "mypy") for module in PKG_MODULES] + [
    (module, "pyright") for module in PKG_MODULES if module not in _pyright_excluded()]

# Seconds. A cold mypy run type-checks asyncio's stubs: slow on a busy machine.
CHECK_TIMEOUT = 480
RUN_TIMEOUT = 120

EXPECTED_ERROR = re.compile(r"#\s*E(?::|$)")  # "# E" or "# E: why"
MYPY_LINE = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+): (?P<severity>error|warning|note): (?P<message>.*)$")

_PKG_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(ioloop.__file__)))
SOURCE_TREE = _PKG_PARENT not in site.getsitepackages()

static = pytest.mark.skipif(
    os.environ.get("IOLOOP_NO_EXTENSIONS", "").strip().lower() not in ("", "0", "false", "no"),
    reason="static checks read the same code for both engines: they run in the compiled-engine run")


def _env():
    env = dict(os.environ)
    if SOURCE_TREE:  # a source-tree build: let children import it too
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PKG_PARENT, env.get("PYTHONPATH")]))
    return env


def _need(module):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install '.[test]')")


def _run(cmd, cwd):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                          timeout=CHECK_TIMEOUT, env=_env())


def _pyright_config(directory, **settings):
    config = {"typeCheckingMode": "standard", **settings}
    if SOURCE_TREE:
        # pyright reads the interpreter's site-packages, not PYTHONPATH.
        config["extraPaths"] = [_PKG_PARENT]
    (directory / "pyrightconfig.json").write_text(json.dumps(config))


def _pyright_findings(stdout):
    """{file name: [(line, severity, message)]} from pyright's JSON output."""
    found = collections.defaultdict(list)
    for d in json.loads(stdout)["generalDiagnostics"]:
        if d["severity"] in ("error", "warning"):
            found[os.path.basename(d["file"])].append(
                (d["range"]["start"]["line"] + 1, d["severity"], d["message"]))
    return found


def _mypy_findings(stdout):
    found = collections.defaultdict(list)
    for line in stdout.splitlines():
        m = MYPY_LINE.match(line)
        if m and m["severity"] != "note":
            found[os.path.basename(m["file"])].append(
                (int(m["line"]), m["severity"], m["message"]))
    return found


@pytest.fixture(scope="module")
def programs_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("typing")
    for name in PASS + FAIL + [COMPAT]:
        shutil.copy(PROGRAMS_DIR / name, d / name)
    _pyright_config(d)
    return d


@pytest.fixture(scope="module")
def checked(programs_dir):
    """Both checkers, run once over all the programs."""
    results = {}

    def run(checker):
        if checker not in results:
            files = PASS + FAIL + [COMPAT]
            if checker == "mypy":
                _need("mypy")
                proc = _run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary",
                             "--cache-dir", str(programs_dir / ".mypy_cache"), *files],
                            programs_dir)
                assert proc.returncode in (0, 1), proc.stdout + proc.stderr
                results[checker] = (_mypy_findings(proc.stdout), proc.stdout)
            else:
                _need("basedpyright")
                proc = _run([sys.executable, "-m", "basedpyright", "--outputjson",
                             "--pythonpath", sys.executable, *files], programs_dir)
                assert proc.returncode in (0, 1), proc.stdout + proc.stderr
                results[checker] = (_pyright_findings(proc.stdout), proc.stdout)
        return results[checker]

    return run


def test_programs_exist():
    assert PASS and FAIL, f"no programs in {PROGRAMS_DIR}"


@static
@pytest.mark.timeout(CHECK_TIMEOUT + 60)
@pytest.mark.parametrize("checker", ["mypy", "pyright"])
@pytest.mark.parametrize("program", PASS)
def test_correct_program_type_checks(checked, checker, program):
    findings, _ = checked(checker)
    found = findings.get(program, [])
    assert not found, f"{checker} on {program}:\n" + "\n".join(
        f"  line {line}: {sev}: {msg}" for line, sev, msg in found)


@static
@pytest.mark.timeout(CHECK_TIMEOUT + 60)
@pytest.mark.parametrize("checker", ["mypy", "pyright"])
@pytest.mark.parametrize("program", FAIL)
def test_wrong_program_rejected_on_marked_lines(checked, checker, program):
    text = (PROGRAMS_DIR / program).read_text().splitlines()
    expected = {i for i, line in enumerate(text, 1) if EXPECTED_ERROR.search(line)}
    assert expected, f"{program} marks no line with '# E'"
    findings, _ = checked(checker)
    errors = [(line, msg) for line, sev, msg in findings.get(program, []) if sev == "error"]
    reported = {line for line, _ in errors}
    missed = sorted(expected - reported)
    extra = sorted(reported - expected)
    assert not missed and not extra, (
        f"{checker} on {program}:\n"
        + "".join(f"  not rejected, line {i}: {text[i - 1].strip()}\n" for i in missed)
        + "".join(f"  unexpected error, line {i}: {msg}\n" for i, msg in errors if i in extra))


@static
@pytest.mark.timeout(CHECK_TIMEOUT + 60)
@pytest.mark.parametrize("checker", ["mypy", "pyright"])
def test_engine_signatures_match_asyncio(checked, checker):
    tree = ast.parse((PROGRAMS_DIR / COMPAT).read_text())
    expected = sorted(next(ast.literal_eval(node.value) for node in tree.body
                           if isinstance(node, ast.Assign)
                           and node.targets[0].id == "INCOMPATIBLE"))
    findings, _ = checked(checker)
    pattern = (r'Definition of "(\w+)" in base class' if checker == "mypy"
               else r'define method "(\w+)" in incompatible way')
    incompatible = sorted(m[1] for _, _, msg in findings.get(COMPAT, [])
                          for m in [re.search(pattern, msg)] if m)
    others = [msg for _, _, msg in findings.get(COMPAT, []) if not re.search(pattern, msg)]
    assert incompatible == expected and not others, (incompatible, others)


@pytest.mark.timeout(RUN_TIMEOUT + 30)
@pytest.mark.parametrize("program", PASS)
def test_correct_program_runs(programs_dir, program):
    pytest.importorskip("typing_extensions")
    proc = subprocess.run([sys.executable, "-X", "dev", program], cwd=programs_dir,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT, env=_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # -X dev: no unclosed socket, unawaited coroutine or other warning.
    assert "Warning" not in proc.stderr, proc.stderr


# -- the package itself -------------------------------------------------------------


@pytest.fixture(scope="module")
def package_checked(tmp_path_factory):
    if not (REPO / "pyproject.toml").exists() or not (SRC_PKG / "__init__.py").exists():
        pytest.skip("needs the source tree (src/ioloop and pyproject.toml)")
    results = {}
    cache = tmp_path_factory.mktemp("mypy-cache")

    def run(checker):
        if checker not in results:
            if checker == "mypy":
                _need("mypy")
                # The [tool.mypy] table of pyproject.toml: strict, files, exclude.
                proc = _run([sys.executable, "-m", "mypy", "--no-error-summary",
                             "--cache-dir", str(cache)], REPO)
                assert proc.returncode in (0, 1), proc.stdout + proc.stderr
                results[checker] = _mypy_findings(proc.stdout)
            else:
                _need("basedpyright")
                proc = _run([sys.executable, "-m", "basedpyright", "--outputjson",
                             "--pythonpath", sys.executable, "-p", str(REPO / "pyproject.toml")],
                            REPO)
                assert proc.returncode in (0, 1), proc.stdout + proc.stderr
                results[checker] = _pyright_findings(proc.stdout)
        return results[checker]

    return run


@static
@pytest.mark.timeout(CHECK_TIMEOUT + 60)
@pytest.mark.parametrize(("module", "checker"), PKG_CHECKS)
def test_package_module_type_checks(package_checked, checker, module):
    found = package_checked(checker).get(module, [])
    assert not found, f"{checker} on src/ioloop/{module}: {len(found)} findings\n" + "\n".join(
        f"  line {line}: {sev}: {msg}" for line, sev, msg in found[:40])


@static
@pytest.mark.timeout(CHECK_TIMEOUT + 60)
def test_public_api_types_complete(tmp_path):
    """pyright --verifytypes: every public symbol has a known type (the
    command-line benchmark module ioloop.bench aside)."""
    _need("basedpyright")
    _pyright_config(tmp_path)
    proc = _run([sys.executable, "-m", "basedpyright", "--verifytypes", "ioloop",
                 "--ignoreexternal", "--outputjson", "--pythonpath", sys.executable,
                 "-p", str(tmp_path)], tmp_path)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    report = json.loads(proc.stdout)["typeCompleteness"]
    assert report["packageName"] == "ioloop"
    incomplete = collections.defaultdict(list)
    for sym in report["symbols"]:
        name = sym["name"]
        if name.startswith("ioloop.bench"):
            continue
        errors = [d["message"].split("\n")[0] for d in sym["diagnostics"] if d["severity"] == "error"]
        if errors or not sym["isTypeKnown"]:
            parts = name.split(".")
            module = ".".join(parts[:2]) if parts[1].startswith("_") else "ioloop"
            incomplete[module].append(f"{name}: {'; '.join(errors) or 'type partially unknown'}")
    assert not incomplete, "\n".join(
        f"{module}: {len(lines)} symbols\n" + "\n".join(f"  {line}" for line in lines[:25])
        for module, lines in sorted(incomplete.items()))


def test_run_takes_only_main_and_debug():
    """ioloop.run's typed signature is its runtime one on every Python: an
    unknown keyword is refused, not passed on or dropped."""
    async def main():
        return 1

    coro = main()
    try:
        with pytest.raises(TypeError):
            ioloop.run(coro, loop_factory=ioloop.new_event_loop)
    finally:
        coro.close()
    assert ioloop.run(main(), debug=False) == 1
