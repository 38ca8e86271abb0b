# SPDX-License-Identifier: MIT
"""The examples in python/examples run against the test's ismd."""
import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


@pytest.mark.parametrize("name,expect", [
    ("chan_echo.py", "HELLO\nSHARED\nMEMORY\n"),
    ("region_numpy.py", "writeable=False"),
    ("stream_selectors.py", "PING OVER SHM / server path: shm"),
])
def test_example(ismd, name, expect):
    if name == "region_numpy.py":
        pytest.importorskip("numpy")
    env = dict(os.environ, ISM_SOCKET=ismd.socket)
    p = subprocess.run([sys.executable, os.path.join(EXAMPLES, name)],
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert expect in p.stdout
