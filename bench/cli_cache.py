"""CLI inversion cache: a second ``facet edit`` of the same photo against the first (which inverts).

    python bench/cli_cache.py [--bundle resources/models/cgan64] [--method hybrid] [--no-write]

Each photo is edited twice by the installed ``facet`` command in a fresh process, as a user runs it, with an
empty cache folder before the first run: ``--photo --set Smiling=1``, then ``--set Smiling=0.5`` (another edit of
the same face, which takes its inversion from the cache). Photos: ``resources/samples/astronaut.png`` and a
12 MP JPEG built from ``resources/samples/astronaut_512.jpg`` (the face enlarged on a grey background). One run
each; the fixed cost every run pays (starting Python and importing torch) is measured on its own, and so is
what a call cost before the cache and the thread default (``--no-cache --threads`` torch's own count).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SAMPLES = ROOT / "resources" / "samples"
#: ``facet`` in a fresh process that also says (on stderr) how long ``main`` took once Python and torch were up
FACET = [sys.executable, "-c", "import sys, time, torch; from engine.cli import main; t = time.perf_counter(); "
         "rc = main(); print(f'__in_main__ {time.perf_counter() - t:.3f}', file=sys.stderr); sys.exit(rc)"]


def large_photo(folder: Path, width: int = 4000, height: int = 3000) -> Path:
    """A 12 MP JPEG: the 512 px astronaut enlarged to the photo's height on a grey background."""
    from engine.images import load_image, resize, save_image

    face = resize(load_image(SAMPLES / "astronaut_512.jpg"), (height, height))
    photo = np.full((height, width, 3), 118, np.uint8)
    left = (width - height) // 2
    photo[:, left : left + height] = face
    return save_image(folder / "large_12mp.jpg", photo)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, dict]:
    """Wall-clock seconds of one command in a fresh process, and its JSON report (with ``in_main``: the seconds
    after start-up)."""
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    report = json.loads(done.stdout)
    report["in_main"] = float(done.stderr.rsplit("__in_main__ ", 1)[1].split()[0])
    return seconds, report


def startup(env: dict[str, str]) -> float:
    """What every run pays before it does anything: a Python process that imports torch and the CLI."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, engine.cli"], env=env, check=True, cwd=ROOT)
    return time.perf_counter() - t0


def edit_twice(photo: Path, args: argparse.Namespace, work: Path, torch_threads: int) -> dict[str, float]:
    """Before (no cache, torch's own thread count: what every call cost until now), first and second run."""
    home = work / f"home_{photo.stem}"
    shutil.rmtree(home, ignore_errors=True)
    env = {**os.environ, "FACET_STUDIO_HOME": str(home)}
    common = [*FACET, "edit", str(photo), "--photo", "--bundle", str(args.bundle), "--method", args.method, "--json"]
    before, _ = timed([*common, "--set", "Smiling=1", "--no-cache", "--threads", str(torch_threads),
                       "-o", str(work / f"{photo.stem}_0.jpg")], env)
    first, r1 = timed([*common, "--set", "Smiling=1", "-o", str(work / f"{photo.stem}_1.jpg")], env)
    second, r2 = timed([*common, "--set", "Smiling=0.5", "-o", str(work / f"{photo.stem}_2.jpg")], env)
    if r1["cached"] != 0 or r2["cached"] != r2["faces"]["edited"]:
        raise SystemExit(f"{photo}: expected a miss then a hit, got {r1['cached']} and {r2['cached']} cached faces")
    return {"before": before, "first": first, "second": second, "faces": r2["faces"]["edited"],
            "first_in_main": r1["in_main"], "second_in_main": r2["in_main"]}


def run(args: argparse.Namespace) -> str:
    import torch

    from bench.report import markdown_table
    from engine.cli.common import default_threads
    from engine.images import load_image

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    threads, torch_threads = default_threads(), torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        photos = [SAMPLES / "astronaut.png", large_photo(work)]
        env = {**os.environ}
        base = min(startup(env) for _ in range(2))
        rows, ratios = [], []
        for photo in photos:
            h, w = load_image(photo).shape[:2]
            t = edit_twice(photo, args, work, torch_threads)
            ratios.append(t["first"] / t["second"])
            rows.append([f"`{photo.name}` ({w} x {h})", t["faces"], f"{t['before']:.2f} s", f"{t['first']:.2f} s",
                         f"{t['second']:.2f} s", f"{t['first'] / t['second']:.1f}x", f"{t['before'] / t['second']:.1f}x",
                         f"{t['first_in_main']:.2f} s / {t['second_in_main']:.2f} s"])
    table = markdown_table(["photo", "faces", f"before: every call ({torch_threads} threads, no cache)",
                            f"1st (inverts, {threads} thread(s))", "2nd (cache hit)", "2nd vs 1st", "2nd vs before",
                            "1st / 2nd after start-up"], rows)
    return (
        f"`facet edit PHOTO --photo --bundle {Path(args.bundle).name} --method {args.method}` run twice in fresh "
        f"processes (`--set Smiling=1`, then `--set Smiling=0.5`), empty cache before the first. Load average at the "
        f"start {load:.2f}; the CLI's default threads {threads}, torch's own {torch_threads}. Start-up (Python + `import torch, engine.cli`, which "
        f"every run pays): {base:.2f} s.\n\n{table}\n\n"
        f"Target (issue 23): the second run at least 5x faster than the first — "
        f"{'met' if min(ratios) >= 5 else 'not met'} here ({min(ratios):.1f}x at worst). A hit skips the inversion "
        "and only that: the second run still starts Python and imports torch, loads the whole bundle (all six "
        "networks, initialised and checked, though a hit renders with the generator alone), decodes the photo, "
        "detects the faces, renders, pastes back at full resolution and encodes the output. So the ratio is "
        "bounded by how slow the inversion is against that fixed cost: it grows with a loaded machine or the "
        "`best` preset and shrinks on an idle fast one. Against a call before this change (torch's own thread "
        "count, no cache), the second run is the `2nd vs before` column.\n"
    )


def main(argv: list[str] | None = None) -> int:
    from bench.report import run_and_write

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=str(ROOT / "resources" / "models" / "cgan64"))
    parser.add_argument("--method", default="hybrid", help="inversion method of both runs (default: hybrid)")
    parser.add_argument("--no-write", action="store_true", help="print only, do not update docs/benchmarks.md")
    args = parser.parse_args(argv)
    run_and_write("cli_cache", "CLI: a second `facet edit` of the same photo (inversion cache)", run, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
