"""Unpacked size of the built application bundle against the 900 MB target → docs/benchmarks.md.

Run after ``python packaging/build.py`` (which writes dist/build-info.json):

    python bench/bundle_size.py             # measure and write the "bundle_size" section
    python bench/bundle_size.py --dry-run   # measure and print only (CI)
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import markdown_table, write_section  # noqa: E402

TARGET_MB = 900
MB = 1024 * 1024


# One size rule for the build and this report; packaging/ is a folder of scripts (and its name is taken
# by the PyPI `packaging` module), so the function is taken from the file.
tree_size = runpy.run_path(str(ROOT / "packaging" / "build.py"))["tree_size"]


def largest_parts(folder: Path, n: int = 8) -> list[tuple[str, int]]:
    """The biggest entries of the bundle's ``_internal`` (torch/lib split out): where the megabytes go."""
    internal = next(folder.rglob("_internal"), None) or folder
    parts = {str(p.relative_to(internal)): tree_size(p) for p in internal.iterdir() if p.name != "torch"}
    torch_dir = internal / "torch"
    if torch_dir.is_dir():
        parts["torch/lib"] = tree_size(torch_dir / "lib")
        parts["torch (rest)"] = tree_size(torch_dir) - parts["torch/lib"]
    return sorted(parts.items(), key=lambda kv: -kv[1])[:n]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--info", type=Path, default=ROOT / "dist" / "build-info.json")
    ap.add_argument("--dry-run", action="store_true", help="print, do not touch docs/benchmarks.md")
    args = ap.parse_args(argv)
    if not args.info.exists():
        sys.exit(f"{args.info} does not exist: build the bundle first (python packaging/build.py)")
    info = json.loads(args.info.read_text())
    folder = ROOT / info["folder"]
    if not folder.exists():
        sys.exit(f"{folder} (from {args.info}) does not exist: build the bundle again")
    unpacked = tree_size(folder)
    verdict = "within" if unpacked <= TARGET_MB * MB else "OVER"
    rows = [
        ["variant", f"{info['variant']} (torch {info['torch']}, Python {info['python']}, {info['platform']})"],
        ["unpacked size", f"**{unpacked / MB:.0f} MB** ({verdict} the {TARGET_MB} MB target)"],
    ]
    if "archive_bytes" in info:
        rows.append(["archive (.tar.gz)", f"{info['archive_bytes'] / MB:.0f} MB"])
    rows.append(["PyInstaller build time", f"{info['pyinstaller_seconds']:.0f} s (whole build.py: {info['total_seconds']:.0f} s)"])
    if "pyinstaller_cpu_seconds" in info:
        rows.append(["PyInstaller CPU time", f"{info['pyinstaller_cpu_seconds']:.0f} s on {info['cpu_count']} cores, "
                     f"load average {info.get('load_average_5min', '?')} during the build"])
    parts = markdown_table(["largest parts of _internal", "MB"], [[k, f"{v / MB:.0f}"] for k, v in largest_parts(folder)])
    body = markdown_table(["", ""], rows) + "\n\n" + parts + "\n"
    print(body)
    if not args.dry_run:
        print(f"wrote {write_section('bundle_size', 'Application bundle size', body)}")
    return 0 if unpacked <= TARGET_MB * MB else 1


if __name__ == "__main__":
    sys.exit(main())
