"""A test that needs ../shared says what is missing when it skips, and fails instead where ../shared exists."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers import ROOT

NEEDS_DATA = """
import pytest
from tests.helpers import SHARED, require

def test_reads_a_fixture():
    require(SHARED / "fixtures" / "images" / "photo.jpg")

@pytest.mark.skip(reason="needs a GPU")
def test_unrelated_skip():
    pass
"""


def run_pytest(tmp_path, shared) -> subprocess.CompletedProcess:
    (tmp_path / "test_needs_data.py").write_text(NEEDS_DATA)
    env = {**os.environ, "FACET_TEST_SHARED": str(shared), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.helpers", "-p", "no:cacheprovider", "-ra", "-q",
         "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path / "test_needs_data.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_without_the_shared_folder_the_skip_names_what_is_missing(tmp_path):
    done = run_pytest(tmp_path, tmp_path / "no-shared-here")
    assert done.returncode == 0, done.stdout
    assert "2 skipped" in done.stdout
    assert "needs ../shared/fixtures/images/photo.jpg: there is no shared data folder" in done.stdout


def test_with_the_shared_folder_a_test_that_needs_it_may_not_skip(tmp_path):
    shared = tmp_path / "shared"
    (shared / "fixtures" / "images").mkdir(parents=True)  # there, but without the file the test needs
    done = run_pytest(tmp_path, shared)
    assert done.returncode == 1, done.stdout
    assert "1 failed" in done.stdout and "1 skipped" in done.stdout  # the GPU skip stays a skip
    assert "skipped although the shared data folder" in done.stdout
    assert "needs ../shared/fixtures/images/photo.jpg: it is missing from" in done.stdout
