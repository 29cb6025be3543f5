"""How faces are numbered on screen: 1 is the leftmost face, counted left to right as a reader scans.

The session keeps its faces in the order they were found (largest first, then drawn boxes); the window,
the canvas labels and the worker's messages show these numbers instead, so "face 1" is where a person
looks first and never depends on which face the detector found bigger.
"""

from __future__ import annotations

from collections.abc import Sequence


def face_numbers(boxes: Sequence[Sequence[float]]) -> list[int]:
    """The 1-based number of each face (in the session's order) by its box centre, left to right."""
    centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in boxes]
    numbers = [0] * len(boxes)
    for rank, i in enumerate(sorted(range(len(boxes)), key=lambda i: centres[i])):
        numbers[i] = rank + 1
    return numbers
