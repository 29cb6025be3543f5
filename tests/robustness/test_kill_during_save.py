"""kill -9 while a project and the autosave are being written: the previous file or the new one, never half.

A writer process saves a project and the autosave in turns, as the worker does (``app.project.write_project``
to the project's path and to ``app.paths.autosave_path()``), each save with a counter and arrays derived from
it. The test kills it at random moments, then checks each file: it holds the last save the writer reported
or the one it was writing, complete (its arrays match its counter). The next save then leaves no temp
behind: killed saves leave ``.NAME.facet.tmp`` files, which the app's saves remove once they are stale
(``app.paths.remove_stale_temps``, called by the window before every save and autosave).

``FACET_ROBUSTNESS_KILLS`` sets the number of kills (20 by default, about 15 s); ``FACET_ROBUSTNESS_SEED``
the random moments.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from tests.helpers import ROOT

KILLS = int(os.environ.get("FACET_ROBUSTNESS_KILLS", "20"))
SEED = int(os.environ.get("FACET_ROBUSTNESS_SEED", "0"))
CODE_SIZE = 20_000  # float32 values per save, derived from its counter

WRITER = r"""
import json, sys
from pathlib import Path
import numpy as np
from app.paths import autosave_path
from app.project import write_project

project, counter, size = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
photo = np.random.default_rng(0).integers(0, 255, (900, 1200, 3), np.uint8)  # 3 MB in the zip
print(json.dumps({"autosave_path": str(autosave_path())}), flush=True)
while True:
    for name, path in (("project", project), ("autosave", autosave_path())):
        code = np.random.default_rng(counter).standard_normal(size).astype(np.float32)
        write_project(path, {"photo": photo, "ops": [{"counter": counter}], "code": code}, {"counter": counter})
        print(json.dumps({name: counter}), flush=True)
        counter += 1
"""


def saved_counter(path: Path) -> int | None:
    """The counter of the complete save at ``path`` (None: no file); fails if the file is not a whole save."""
    from app.project import read_project

    if not path.exists():
        return None
    session, extra = read_project(path)  # raises if the zip is damaged or truncated
    counter = extra["counter"]
    assert session["ops"] == [{"counter": counter}]
    expected = np.random.default_rng(counter).standard_normal(CODE_SIZE).astype(np.float32)
    np.testing.assert_array_equal(session["code"], expected, err_msg=f"{path} mixes two saves")
    return counter


def run_and_kill(project: Path, start: int, delay: float, env: dict) -> tuple[Path, dict[str, int]]:
    """Start a writer, let it save for ``delay`` seconds, kill -9 it; its autosave path and the last save it
    reported per file."""
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(project), str(start), str(CODE_SIZE)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = writer.stdout.readline()
        assert first, f"the writer did not start: {writer.stderr.read()}"
        autosave = Path(json.loads(first)["autosave_path"])
        time.sleep(delay)
    finally:
        writer.send_signal(signal.SIGKILL)
        out, _err = writer.communicate(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    reported: dict[str, int] = {}
    for line in out.splitlines():
        reported.update(json.loads(line))
    return autosave, reported


def test_kill_9_during_saves_leaves_the_previous_file_or_the_new_one(tmp_path):
    from app.paths import PROJECT_TEMPS, remove_stale_temps
    from app.project import write_project

    folder = tmp_path / "photos"
    folder.mkdir()
    env = {**os.environ, "FACET_STUDIO_HOME": str(tmp_path / "home"), "QT_QPA_PLATFORM": "offscreen"}
    project = folder / "work.facet"
    rng = random.Random(SEED)
    counters: dict[str, int | None] = {"project": None, "autosave": None}
    start, left_temps = 0, 0
    for _ in range(KILLS):
        autosave, reported = run_and_kill(project, start, rng.uniform(0.0, 0.5), env)
        for name, path, first in (("project", project, start), ("autosave", autosave, start + 1)):
            found = saved_counter(path)
            done = reported.get(name)
            # the save it last reported, or the next one of this file (written, killed before it was reported)
            allowed = {counters[name], first} if done is None else {done, done + 2}
            assert found in allowed, f"{name}: found save {found}, expected one of {allowed}"
            counters[name] = found
        start = max([start, *reported.values(), *(c for c in counters.values() if c is not None)]) + 2
        left_temps += any(folder.glob(PROJECT_TEMPS)) or any(autosave.parent.glob(PROJECT_TEMPS))
    assert None not in counters.values(), "no save completed: the kills came too early to test anything"

    # the user saves again a while later, under another name: what the killed saves left goes
    minute_ago = time.time() - 120
    for tmp in [*folder.glob(PROJECT_TEMPS), *autosave.parent.glob(PROJECT_TEMPS)]:
        os.utime(tmp, (minute_ago, minute_ago))
    for path in (folder / "renamed.facet", autosave):  # as the window's save and autosave do: clean, write
        remove_stale_temps(path.parent)
        write_project(path, {"photo": np.zeros((8, 8, 3), np.uint8)}, {"counter": -1})
    assert not list(folder.glob(PROJECT_TEMPS)) and not list(autosave.parent.glob(PROJECT_TEMPS))
    print(f"{KILLS} kills, {left_temps} of them left a temp file behind")
