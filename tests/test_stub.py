"""The hand-written stub of the compiled engine matches the module."""

import os
import subprocess
import sys

import pytest

import ioloop


@pytest.mark.timeout(300)
@pytest.mark.skipif(ioloop.implementation != "cython", reason="needs the compiled engine")
def test_stubtest_core():
    pytest.importorskip("mypy")
    pkg_parent = os.path.dirname(os.path.dirname(ioloop.__file__))
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "ioloop._core"],
        cwd=pkg_parent, capture_output=True, text=True, timeout=280,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_stub_ships_with_package():
    here = os.path.dirname(ioloop.__file__)
    assert os.path.exists(os.path.join(here, "_core.pyi"))
