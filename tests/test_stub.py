"""The hand-written stub of the compiled engine matches the module."""

import os
import site
import subprocess
import sys

import pytest

import ioloop


@pytest.mark.timeout(300)
@pytest.mark.skipif(ioloop.implementation != "cython", reason="needs the compiled engine")
def test_stubtest_core(tmp_path):
    pytest.importorskip("mypy")
    # Run from an empty directory: stubtest imports the package the way
    # users do (installed, or via PYTHONPATH), and nothing in the cwd shadows
    # site-packages modules.
    env = dict(os.environ)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(ioloop.__file__)))
    if pkg_parent not in site.getsitepackages():  # a source-tree build
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_parent, env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "ioloop._core"],
        cwd=tmp_path, capture_output=True, text=True, timeout=280, env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_stub_ships_with_package():
    here = os.path.dirname(ioloop.__file__)
    assert os.path.exists(os.path.join(here, "_core.pyi"))
