"""How faces are numbered, in the app and the CLI alike: 1 is the leftmost face, counted as a reader scans.

A session keeps its faces in the order they were found (largest first, then drawn boxes); people call a face
by where it is. One rule, used by the window, the canvas labels, the worker's messages and ``--face N``, so
"face 2" is the same face everywhere. Plain Python (no torch): the app imports it at start-up.
"""

from __future__ import annotations

from collections.abc import Sequence


def reading_order(boxes: Sequence[Sequence[float]]) -> list[int]:
    """Indices of ``boxes`` (x0, y0, x1, y1) in the order faces are numbered: by box centre, left to right,
    then top to bottom. ``reading_order(boxes)[n - 1]`` is face number ``n``."""
    centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in boxes]
    return sorted(range(len(boxes)), key=lambda i: centres[i])


def face_numbers(boxes: Sequence[Sequence[float]]) -> list[int]:
    """The 1-based number of each face, in ``boxes``' own order (the inverse of :func:`reading_order`)."""
    numbers = [0] * len(boxes)
    for rank, i in enumerate(reading_order(boxes)):
        numbers[i] = rank + 1
    return numbers
