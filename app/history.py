"""The worker's record of the undo history, entry for entry what the window's QUndoStack holds.

The window pushes an undo command at once and the worker applies it later, so a request can fail (a
cancelled inversion, a file that will not load) after the user has already pushed, undone or redone more.
Every command therefore carries a token, and the worker acts on an undo, redo or merge only when the
history names the same command there: an undo of an edit that never reached the session does nothing,
instead of undoing the edit before it. The window drops a failed command wherever it is in its stack, so
the two lists stay equal. Entries are ``"op"`` (an operation in the session's edit stack) or ``"face"``
(a face box the user drew). Plain Python: the worker thread owns it, tests read it when the worker is idle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("op", "face")


@dataclass
class History:
    tokens: list[int] = field(default_factory=list)
    cursor: int = 0
    kinds: dict[int, str] = field(default_factory=dict)
    base_faces: int = 0  # faces the document had before any drawn box (found by detection or loaded)

    def reset(self, tokens: list[int], cursor: int, base_faces: int) -> None:
        """A new or reloaded document: its operations (all ``"op"``), ``cursor`` of them active."""
        self.tokens, self.cursor, self.base_faces = list(tokens), cursor, base_faces
        self.kinds = {t: "op" for t in tokens}

    def push(self, token: int, kind: str) -> list[tuple[int, str]]:
        """A new entry after the cursor; returns the redo tail it replaces (oldest first)."""
        if kind not in KINDS:
            raise ValueError(f"unknown history entry kind {kind!r}")
        dropped = self.cut()
        self.tokens.append(token)
        self.kinds[token] = kind
        self.cursor += 1
        return dropped

    def cut(self) -> list[tuple[int, str]]:
        """Drop the redo tail (the window pushed a command that then failed: its push dropped the tail)."""
        dropped = [(t, self.kinds.pop(t)) for t in self.tokens[self.cursor:]]
        del self.tokens[self.cursor:]
        return dropped

    def top(self) -> int | None:
        """The token of the newest active entry."""
        return self.tokens[self.cursor - 1] if self.cursor else None

    def next(self) -> int | None:
        """The token of the entry a redo would bring back."""
        return self.tokens[self.cursor] if self.cursor < len(self.tokens) else None

    def undo(self, token: int) -> str | None:
        """Step back over ``token``'s entry if it is the newest active one; its kind, else None."""
        if self.top() != token:
            return None
        self.cursor -= 1
        return self.kinds[token]

    def redo(self, token: int) -> str | None:
        """Step forward over ``token``'s entry if it is the next one; its kind, else None."""
        if self.next() != token:
            return None
        self.cursor += 1
        return self.kinds[token]

    def pop(self) -> None:
        """Forget the newest entry (the cursor must be at the end): an edit taken back as never made."""
        token = self.tokens.pop()
        del self.kinds[token]
        self.cursor = min(self.cursor, len(self.tokens))

    def active_faces(self) -> int:
        """Drawn face boxes that are not undone."""
        return sum(1 for t in self.tokens[: self.cursor] if self.kinds[t] == "face")
