"""A seeded GUI monkey: a thousand random user actions on the real window keep the undo stack in step.

``tests/robustness/gui_monkey.py`` opens the fixture photos (../shared/fixtures/images, those meant to be
refused too), drags and steps sliders, brushes, undoes and redoes, saves and opens projects, cancels jobs,
loads models, draws face boxes and takes attributes from exemplars, and after every action checks that the
window's undo stack is the worker's edit history entry for entry. It runs in a process of its own, so an
abort (a fatal error inside Qt or PySide) is seen as one and its peak memory is its own.

With the tiny test models it takes well under a minute of CPU. ``FACET_MONKEY_ACTIONS`` (1000),
``FACET_MONKEY_SEED`` (7) and ``FACET_MONKEY_MODELS`` (``tiny``, or ``shipped`` for the default models in
resources/models) make the longer runs, e.g. ``FACET_MONKEY_ACTIONS=3400 FACET_MONKEY_MODELS=shipped``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.helpers import FIXTURES, ROOT, require

ACTIONS = int(os.environ.get("FACET_MONKEY_ACTIONS", "1000"))
SEED = int(os.environ.get("FACET_MONKEY_SEED", "7"))
MODELS = os.environ.get("FACET_MONKEY_MODELS", "tiny")
MAX_PEAK_MB = 2048


def test_random_gui_actions_keep_the_undo_stack_in_step_without_errors():
    require(FIXTURES)
    command = [sys.executable, "-m", "tests.robustness.gui_monkey", "--actions", str(ACTIONS), "--seed", str(SEED),
               "--models", MODELS, "--images", str(FIXTURES)]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120 + ACTIONS * 2)
    assert proc.returncode == 0, f"the monkey's process ended with {proc.returncode} (negative: killed by that " \
                                 f"signal, e.g. -6 = an abort):\n{proc.stderr[-3000:]}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["actions"] == ACTIONS
    assert report["exceptions"] == 0, report["exception_samples"]
    assert report["unexpected_errors"] == 0, report["unexpected_samples"]
    assert report["reopen_failures"] == 0, report["reopen_samples"]  # a project the app saved must reopen
    assert report["violations"] == 0, report["violation_samples"]
    assert report["hangs"] == 0
    assert report["peak_rss_mb"] < MAX_PEAK_MB, report
    counts = report["action_counts"]
    assert all(counts.get(a, 0) > 0 for a in ("open_image", "drag", "undo", "redo", "save", "open_project",
                                               "cancel", "load_model", "brush", "add_box", "transfer"))
