"""Cyclic garbage is collected on the GUI thread only (automatic collection off while the app runs)."""

from __future__ import annotations

import gc


def test_window_moves_collection_to_the_gui_thread(make_window, qtbot):
    from app import gc_main

    make_window(models=False)
    assert not gc.isenabled()
    assert gc_main._timer is not None and gc_main._timer.isActive()

    class Cycle:
        pass

    for _ in range(gc.get_threshold()[0] + 50):  # enough cyclic garbage to pass generation 0's threshold
        a, b = Cycle(), Cycle()
        a.other, b.other = b, a
    del a, b
    assert gc.get_count()[0] > gc.get_threshold()[0]
    gc_main.collect()
    assert gc.get_count()[0] < gc.get_threshold()[0]
