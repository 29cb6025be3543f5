"""The background refiner on its own: one task at a time, a newer one for the same face replaces it, Cancel stops
the running one and drops the queued ones, failures come back as results, and busy() counts until taken."""

from __future__ import annotations

import threading

from app.refine import Refiner, Task
from engine.progress import Step


class Signal:
    def __init__(self, log: list, name: str) -> None:
        self.log, self.name = log, name

    def emit(self, *args) -> None:
        self.log.append((self.name, *args))


class Signals:
    def __init__(self) -> None:
        self.log: list = []
        for name in ("jobStarted", "jobProgress", "jobPreview", "jobEnded"):
            setattr(self, name, Signal(self.log, name))


def held(gate: threading.Event, result: str):
    """A job that steps until ``gate`` is set (so cancel can land between steps), then returns ``result``."""
    while not gate.wait(0.01):
        yield Step(0, 1, "held")
    yield Step(1, 1, "done", preview="crop")
    return result


def failing():
    yield Step(0, 1)
    raise ValueError("the loss became NaN")


def test_tasks_run_in_turn_and_a_newer_one_for_the_same_face_replaces_the_running_one():
    signals, woken = Signals(), threading.Event()
    refiner = Refiner(signals, woken.set)
    first, second, other = threading.Event(), threading.Event(), threading.Event()
    refiner.start(Task(0, 1, "face 1", held(first, "old")))
    refiner.start(Task(1, 1, "face 2", held(other, "face 2's")))
    refiner.start(Task(0, 1, "face 1 again", held(second, "new")))  # the first is cancelled, not waited for
    assert refiner.busy() >= 2
    second.set()
    other.set()
    refiner.wait()
    done = refiner.take_finished()
    assert [(d.task.title, d.outcome, d.inversion) for d in done if d.outcome == "done"] == [
        ("face 2", "done", "face 2's"), ("face 1 again", "done", "new")]
    assert all(d.outcome == "cancelled" for d in done if d.task.title == "face 1")
    assert refiner.busy() == 0 and woken.is_set()
    assert ("jobPreview", 1, 1, "crop") in signals.log  # previews go to the strip's reconstruction slot
    assert signals.log.count(("jobEnded", "face 2", "done")) == 1


def test_cancel_stops_the_running_task_drops_the_queued_ones_and_failures_are_results():
    refiner = Refiner(Signals(), lambda: None)
    gate = threading.Event()
    refiner.start(Task(0, 1, "running", held(gate, "never")))
    refiner.start(Task(1, 1, "queued", held(gate, "never")))
    refiner.cancel()
    refiner.wait()
    done = refiner.take_finished()
    assert [d.outcome for d in done] in ([], ["cancelled"])  # the queued one never ran
    refiner.start(Task(2, 1, "broken", failing()))
    refiner.wait()
    (broken,) = refiner.take_finished()
    assert broken.outcome == "failed" and "NaN" in str(broken.error)
    refiner.join(5)
