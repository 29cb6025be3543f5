"""QUndoCommands that move the worker's edit history (the session, not Qt, owns the edits).

The first ``redo()`` of a command sends its request (apply an operation, add a face box); later
``redo()``/``undo()`` ask the worker to step over the command's entry, named by its token, so an undo
never reaches an edit other than the one the user sees (:mod:`app.history`). A slider drag is one undo
step: commands with the same merge key merge, and the worker merges their operations the same way. A
command whose request failed in the worker (a cancelled inversion, an exemplar that will not load) is
removed from the stack wherever it is, so the two stay equal.
"""

from __future__ import annotations

import itertools
from typing import Any

from PySide6.QtGui import QUndoCommand, QUndoStack

_tokens = itertools.count(1)
MERGE_ID = 0x0FAC


class EditCommand(QUndoCommand):
    def __init__(self, client: Any, request: tuple[str, dict[str, Any]] | None, text: str,
                 merge_key: tuple | None = None, token: int | None = None, serial: int | None = None):
        super().__init__(text)
        self.client = client  # has submit(kind, **args) and a ``silent`` flag
        self.token = next(_tokens) if token is None else token
        self.request = request
        self.merge_key = merge_key
        self.serial = serial if serial is not None or request is None else request[1].get("serial")
        self.failed = False
        self._sent = request is None  # restored commands: their operation is already in the session

    def id(self) -> int:
        return MERGE_ID if self.merge_key is not None else -1

    def redo(self) -> None:
        if self.client.silent:
            self._sent = True
            return
        if not self._sent:
            self._sent = True
            kind, args = self.request
            self.client.submit(kind, token=self.token, **args)
        else:
            self.client.submit("redo", token=self.token, serial=self.serial)

    def undo(self) -> None:
        if self.failed:
            self.setObsolete(True)  # never applied: nothing to undo; QUndoStack drops it
            return
        if not self.client.silent:
            self.client.submit("undo", token=self.token, serial=self.serial)

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, EditCommand) or self.merge_key is None or other.merge_key != self.merge_key:
            return False
        self.request = other.request
        self.setText(other.text())
        if not self.client.silent:
            self.client.submit("squash", token=self.token, merged=other.token, serial=self.serial)
        return True

    def clone(self) -> EditCommand:
        """The same step, already applied (for rebuilding the stack without a failed command)."""
        return EditCommand(self.client, None, self.text(), self.merge_key, self.token, self.serial)


def commands(stack: QUndoStack) -> list[EditCommand]:
    return [stack.command(i) for i in range(stack.count())]


def drop_failed(stack: QUndoStack, client: Any, token: int) -> bool:
    """Remove the command whose request failed in the worker, wherever it is in ``stack``.

    Later commands may already have been pushed, undone or redone around it; the worker ignored the
    undo and redo requests that named it. The stack is rebuilt without it (sending nothing), keeping
    the position and the saved (clean) state of every other command.
    """
    mine = commands(stack)
    where = next((i for i, c in enumerate(mine) if isinstance(c, EditCommand) and c.token == token), None)
    if where is None:
        return False  # merged into another command, or gone with a new document
    index, clean = stack.index(), stack.cleanIndex()
    kept = [c.clone() for i, c in enumerate(mine) if i != where]
    shift = lambda n: n - 1 if where < n else n  # noqa: E731 - positions after the dropped command move down
    _rebuild(stack, client, kept, shift(index), shift(clean) if clean >= 0 else -1)
    return True


def _rebuild(stack: QUndoStack, client: Any, kept: list[QUndoCommand], index: int, clean: int) -> None:
    client.silent = True
    try:
        stack.clear()
        for cmd in kept:
            stack.push(cmd)
        if clean >= 0:
            stack.setIndex(clean)
            stack.setClean()
        stack.setIndex(index)
    finally:
        client.silent = False
    if clean < 0:
        stack.resetClean()


def restore(stack: QUndoStack, client: Any, descriptions: list[str], cursor: int, clean: bool = True,
            tokens: list[int] | None = None, serial: int | None = None) -> None:
    """Mirror a loaded session's stack (already applied) in ``stack`` without sending anything.

    ``tokens`` are the worker's names for those edits (its history); ``clean=False`` keeps the document
    marked as modified (the same photo's session, rebuilt).
    """
    tokens = tokens if tokens is not None else [None] * len(descriptions)
    kept = [EditCommand(client, None, text, token=t, serial=serial) for text, t in zip(descriptions, tokens, strict=True)]
    _rebuild(stack, client, kept, cursor, cursor if clean or not descriptions else -1)
