"""`facet` command line: thin — parse arguments, call one engine function, print the result.

Each command group lives in its own module with a ``register(subparsers)`` function; adding a command
is adding a module here. Engine errors become one clear line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from engine import __version__
from engine.errors import Cancelled, FacetError

COMMAND_MODULES = [
    "engine.cli.data",
    "engine.cli.train",
    "engine.cli.transfer",
    "engine.cli.face",
    "engine.cli.invert",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facet", description="Facet Studio engine: train, invert, edit, transfer.")
    parser.add_argument("--version", action="version", version=f"facet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Cancelled:
        print("facet: cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("facet: interrupted", file=sys.stderr)
        return 130
    except FacetError as exc:
        print(f"facet: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
