"""How faces are numbered on screen: 1 is the leftmost face, counted left to right as a reader scans.

The session keeps its faces in the order they were found (largest first, then drawn boxes); the window,
the canvas labels and the worker's messages show these numbers instead, so "face 1" is where a person
looks first and never depends on which face the detector found bigger. The rule is the engine's
(:mod:`engine.numbering`), so the CLI's ``--face N`` is the same face as the app's "Face N".
"""

from __future__ import annotations

from engine.numbering import face_numbers, reading_order

__all__ = ["face_numbers", "reading_order"]
