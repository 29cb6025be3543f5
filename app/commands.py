"""QUndoCommands that push/pop the worker session's edit stack (the session, not Qt, owns the edits).

The first ``redo()`` of a command sends its request (apply an operation); later ``redo()``/``undo()``
only move the session's cursor. A slider drag is one undo step: commands with the same merge key
merge, and the session squashes its top two operations the same way. A command whose request failed
in the worker (e.g. a cancelled inversion) is undone and made obsolete, so the two stacks stay equal.
"""

from __future__ import annotations

import itertools
from typing import Any

from PySide6.QtGui import QUndoCommand, QUndoStack

_tokens = itertools.count(1)
MERGE_ID = 0x0FAC


class EditCommand(QUndoCommand):
    def __init__(self, client: Any, request: tuple[str, dict[str, Any]] | None, text: str,
                 merge_key: tuple | None = None):
        super().__init__(text)
        self.client = client  # has submit(kind, **args) and a ``silent`` flag
        self.token = next(_tokens)
        self.request = request
        self.merge_key = merge_key
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
            self.client.submit("redo")

    def undo(self) -> None:
        if self.failed:
            self.setObsolete(True)  # never applied: nothing to undo; QUndoStack drops it
            return
        if not self.client.silent:
            self.client.submit("undo")

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, EditCommand) or self.merge_key is None or other.merge_key != self.merge_key:
            return False
        self.request = other.request
        self.setText(other.text())
        if not self.client.silent:
            self.client.submit("squash")
        return True


def drop_failed(stack: QUndoStack, token: int) -> bool:
    """Remove the command whose request failed in the worker (it must be the newest one)."""
    index = stack.index()
    if index == 0:
        return False
    cmd = stack.command(index - 1)
    if isinstance(cmd, EditCommand) and cmd.token == token:
        cmd.failed = True
        stack.undo()
        return True
    return False


def restore(stack: QUndoStack, client: Any, descriptions: list[str], cursor: int, clean: bool = True) -> None:
    """Mirror a loaded session's stack (already applied) in ``stack`` without sending anything.

    ``clean=False`` keeps the document marked as modified (the same photo's session, rebuilt).
    """
    stack.clear()
    client.silent = True
    try:
        for text in descriptions:
            stack.push(EditCommand(client, None, text))
        stack.setIndex(cursor)
    finally:
        client.silent = False
    if clean or not descriptions:
        stack.setClean()
    else:
        stack.resetClean()
