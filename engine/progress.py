"""Long work as generators: one mechanism for progress, previews and cancel in the CLI, the app and tests.

A long operation is written as a generator that ``yield``s :class:`Step` records and ``return``s its
result. Callers either iterate it themselves (the app's worker streams previews) or hand it to
:func:`drive`, which calls ``progress``/``cancel`` callbacks. Cancelling is simply "stop iterating":
:func:`drive` raises :class:`~engine.errors.Cancelled` after the step in which ``cancel()`` turned true.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from engine.errors import Cancelled

T = TypeVar("T")


@dataclass
class Step:
    """One unit of progress: ``step`` of ``total`` done; optional message, metrics and preview image."""

    step: int
    total: int
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    preview: Any = None  # numpy uint8 (H, W, 3) when the operation has something to show

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0


Job = Generator[Step, None, T]
ProgressFn = Callable[[Step], None]
CancelFn = Callable[[], bool]


def drive(job: Job[T], progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> T:
    """Run a job generator to completion; raise :class:`Cancelled` as soon as ``cancel()`` is true."""
    try:
        while True:
            if cancel is not None and cancel():
                job.close()
                raise Cancelled("cancelled")
            step = next(job)
            if progress is not None:
                progress(step)
    except StopIteration as stop:
        return stop.value


def tqdm_progress(desc: str, disable: bool = False) -> tuple[ProgressFn, Callable[[], None]]:
    """A ``progress`` callback drawing a tqdm bar (for the CLI); returns (callback, close)."""
    from tqdm import tqdm

    bar = tqdm(desc=desc, disable=disable, dynamic_ncols=True, leave=False)

    def update(step: Step) -> None:
        if bar.total != step.total:
            bar.reset(total=step.total)
        bar.n = step.step
        if step.metrics:
            bar.set_postfix({k: f"{v:.4g}" for k, v in step.metrics.items()}, refresh=False)
        bar.refresh()

    return update, bar.close
