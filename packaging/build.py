"""Build the Facet Studio bundle for this platform and, on Linux, the ``.tar.gz`` for users.

    python packaging/build.py                 # CPU torch in this environment → dist/facet-studio/ + archive
    python packaging/build.py --variant cuda  # same with a CUDA torch installed (refuses a mismatch)

Linux: ``dist/facet-studio-<version>-linux-<arch>.tar.gz`` holding the one-folder bundle under
``lib/facet-studio/``, a launcher script, a ``.desktop`` file, the icon and an installer for the menu
entry. Windows/macOS: the PyInstaller output plus the next command to run (Inno Setup / make-dmg.sh).
Timing and sizes go to ``dist/build-info.json`` (read by bench/bundle_size.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
DIST, WORK = ROOT / "dist", ROOT / "build" / "pyinstaller"
NAME = "facet-studio"


def version() -> str:
    return re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)


def tree_size(path: Path) -> int:
    """Bytes of the regular files under ``path`` (symlinks not followed: what unpacking writes)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            p = Path(dirpath) / f
            if not p.is_symlink():
                total += p.stat().st_size
    return total


def child_cpu_seconds() -> float:
    """CPU time used by finished child processes (PyInstaller): comparable across busy and idle machines."""
    try:
        import resource
    except ImportError:  # Windows
        return float("nan")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def check_variant(variant: str) -> str:
    """The torch build in this environment, refusing a CPU/CUDA mismatch with ``variant``."""
    import torch

    cuda = torch.version.cuda
    if variant == "cpu" and cuda:
        sys.exit(f"this environment has CUDA torch {torch.__version__}; install the CPU wheel or pass --variant cuda")
    if variant == "cuda" and not cuda:
        sys.exit(f"this environment has CPU-only torch {torch.__version__}; install a CUDA wheel (packaging/README.md)")
    return torch.__version__


def pyinstaller(clean: bool) -> None:
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
           "--distpath", str(DIST), "--workpath", str(WORK), str(PACKAGING / "facet-studio.spec")]
    if clean:
        cmd.insert(3, "--clean")
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def linux_archive(tag: str) -> tuple[Path, Path]:
    """Stage launcher + desktop file + icon around the bundle and pack it; returns (folder, archive)."""
    stage = DIST / f"{NAME}-{tag}"
    if stage.exists():
        shutil.rmtree(stage)
    (stage / "lib").mkdir(parents=True)
    shutil.move(str(DIST / NAME), stage / "lib" / NAME)
    for f in ("facet-studio", "facet-studio.desktop", "install-desktop-entry.sh", "README.txt"):
        shutil.copy2(PACKAGING / "linux" / f, stage / f)
    shutil.copy2(ROOT / "resources" / "icons" / "facet-studio.png", stage / "facet-studio.png")
    archive = DIST / f"{NAME}-{tag}.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
        tar.add(stage, arcname=stage.name)
    return stage, archive


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", choices=("cpu", "cuda"), default="cpu", help="torch build to ship (default cpu)")
    ap.add_argument("--clean", action="store_true", help="empty PyInstaller's cache first")
    ap.add_argument("--no-archive", action="store_true", help="stop after the PyInstaller folder")
    args = ap.parse_args(argv)
    torch_version = check_variant(args.variant)
    start = time.perf_counter()
    pyinstaller(args.clean)
    built = time.perf_counter() - start
    info = {"version": version(), "variant": args.variant, "torch": torch_version, "platform": sys.platform,
            "python": platform.python_version(), "pyinstaller_seconds": round(built, 1),
            "pyinstaller_cpu_seconds": round(child_cpu_seconds(), 1), "cpu_count": os.cpu_count()}
    if hasattr(os, "getloadavg"):  # wall time on a shared machine means little without it
        info["load_average_5min"] = round(os.getloadavg()[1], 1)
    if sys.platform.startswith("linux") and not args.no_archive:
        tag = f"{version()}-linux-{platform.machine()}" + ("-cuda" if args.variant == "cuda" else "")
        stage, archive = linux_archive(tag)
        info |= {"folder": str(stage.relative_to(ROOT)), "executable": str((stage / NAME).relative_to(ROOT)),
                 "archive": str(archive.relative_to(ROOT)), "archive_bytes": archive.stat().st_size,
                 "unpacked_bytes": tree_size(stage)}
    else:
        folder = DIST / ("Facet Studio.app" if sys.platform == "darwin" else NAME)
        exe = folder / ("Contents/MacOS/facet-studio" if sys.platform == "darwin" else NAME)
        info |= {"folder": str(folder.relative_to(ROOT)), "executable": str(exe.relative_to(ROOT)),
                 "unpacked_bytes": tree_size(folder)}
        nxt = {"win32": 'iscc packaging\\windows\\facet-studio.iss', "darwin": "packaging/macos/make-dmg.sh"}
        if sys.platform in nxt:
            print(f"next: {nxt[sys.platform]}")
    info["total_seconds"] = round(time.perf_counter() - start, 1)
    (DIST / "build-info.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
