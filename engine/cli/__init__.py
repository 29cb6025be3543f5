"""`facet` command line: thin — parse arguments, call one engine function, print the result.

Each command group lives in its own module with a ``register(subparsers)`` function; adding a command
is adding a module here. Engine errors become one clear line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import sys
from collections.abc import Iterator

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

    def fail(message: str, code: int) -> int:
        """One line on stderr; with --json also a JSON object on stdout, so a script always gets one."""
        print(f"facet: {message}", file=sys.stderr)
        if getattr(args, "json", False):
            print(json.dumps({"error": message, "exit_code": code}))
        return code

    try:
        with _threads(args):
            return int(args.func(args) or 0)
    except Cancelled:
        return fail("cancelled", 130)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except FacetError as exc:
        return fail(f"error: {exc}", 2)
    except OSError as exc:  # a file to read or write (read-only folder, full disk): name it, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        return fail(f"error: {where}{exc.strerror or exc}", 2)


@contextlib.contextmanager
def _threads(args: argparse.Namespace) -> Iterator[None]:
    """Torch's CPU threads for this command (``--threads`` or a default that leaves a busy machine alone),
    put back afterwards: ``main`` is also called in-process (tests, scripts)."""
    if not hasattr(args, "threads"):
        yield
        return
    import torch

    from engine.cli.common import apply_threads

    before = torch.get_num_threads()
    apply_threads(args)
    try:
        yield
    finally:
        torch.set_num_threads(before)


if __name__ == "__main__":
    sys.exit(main())
