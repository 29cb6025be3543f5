"""The worker's record of the undo history: an undo or redo acts only on the entry the window names."""

from __future__ import annotations

from app.history import History


def test_undo_and_redo_act_only_on_the_named_entry():
    h = History()
    h.reset([-1, -2], cursor=2, base_faces=1)  # two stored edits
    assert h.push(5, "op") == []
    assert h.undo(4) is None and h.cursor == 3  # a command that never got here: nothing undone
    assert h.undo(5) == "op" and h.undo(-2) == "op" and h.cursor == 1
    assert h.redo(5) is None and h.redo(-2) == "op" and h.cursor == 2
    assert h.push(6, "face") == [(5, "op")]  # a new step drops the redo tail
    assert h.tokens == [-1, -2, 6] and h.active_faces() == 1


def test_cut_and_pop_forget_entries():
    h = History()
    for token in (1, 2, 3):
        h.push(token, "op")
    h.undo(3)
    assert h.cut() == [(3, "op")] and h.tokens == [1, 2] and h.next() is None
    h.pop()
    assert h.tokens == [1] and h.cursor == 1 and h.top() == 1 and 2 not in h.kinds
