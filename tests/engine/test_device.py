"""Device choice and CPU threads: clear refusals, and a core left to the GUI while a slider moves."""

from __future__ import annotations

import pytest
import torch

from engine.device import is_out_of_memory, pick_device, use_cpu_threads
from engine.errors import FacetError


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("cores", [1, 2, 8])
def test_interactive_work_leaves_a_core_to_the_gui_and_jobs_take_all(monkeypatch, restore_threads, cores):
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(cores)), raising=False)
    assert use_cpu_threads(interactive=True) == max(1, cores - 1) == torch.get_num_threads()
    assert use_cpu_threads(interactive=False) == cores == torch.get_num_threads()


def test_cpu_is_always_there_and_a_missing_gpu_is_a_clear_error():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(FacetError, match="sees no CUDA GPU"):
            pick_device("cuda")
    with pytest.raises(FacetError, match="unknown device 'gpu'"):
        pick_device("gpu")
    with pytest.raises(FacetError, match="not supported"):
        pick_device("meta")
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert not is_out_of_memory(ValueError("bad"))
