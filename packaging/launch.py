"""Entry script of the frozen application: ``--self-test`` runs :mod:`app.selftest`, anything else starts the app.

PyInstaller needs a script file; this one keeps the frozen bundle's entry identical to the
``facet-studio`` gui-script (``app.main:main``) and lets ``--self-test`` work even before Qt starts.
"""

from __future__ import annotations

import multiprocessing
import sys


def main() -> int:
    multiprocessing.freeze_support()  # a frozen executable must not re-run itself in worker processes
    if "--self-test" in sys.argv[1:]:
        from app.selftest import run

        return run([a for a in sys.argv[1:] if a != "--self-test"])
    from app.main import main as app_main

    return app_main() or 0


if __name__ == "__main__":
    sys.exit(main())
