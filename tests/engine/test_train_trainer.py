"""The trainer loop on tiny synthetic runs: learning signal, files, exact resume, no pickle, gloo DDP."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from engine.data import SyntheticFaces
from engine.errors import Cancelled, DatasetError, FacetError, NumericalError
from engine.train import Recipe, TrainConfig, Trainer
from engine.train.checkpoint import latest_checkpoint
from engine.train.recipes import create_recipe

TINY = {"resolution": 32, "z_dim": 16, "g_channels": 8, "d_channels": 8}


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def _trainer(dataset, out: Path, steps: int, **kw) -> Trainer:
    recipe = create_recipe("cgan", TINY, dataset.attributes, seed=0)
    cfg = dict(steps=steps, batch_size=16, seed=3, device="cpu", sample_every=0, checkpoint_every=0, log_every=1)
    cfg.update(kw)
    return Trainer(recipe, dataset, TrainConfig(out, **cfg))


def _small(synthetic_dataset):
    """48 images: 3 batches of 16 per epoch, so an 8-step run crosses epoch boundaries."""
    return SyntheticFaces(48, resolution=32, seed=1)


def test_aux_attribute_error_falls(tiny_cgan_bundle):
    """In the fixture's 100-step cGAN run, D's auxiliary head learns the attributes of real faces."""
    records = _records(tiny_cgan_bundle.parents[1] / "cgan")
    first, last = records[0]["aux_error"], records[-1]["aux_error"]
    assert first > 0.3
    assert last < first - 0.1


def test_resume_continues_exactly(synthetic_dataset, tmp_path):
    data = _small(synthetic_dataset)
    full = _trainer(data, tmp_path / "full", 8, precision="auto")
    full.run()
    seen: list[int] = []
    part = _trainer(data, tmp_path / "part", 8, precision="auto", sample_every=2)
    with pytest.raises(Cancelled):
        part.run(progress=lambda s: seen.append(s.step), cancel=lambda: bool(seen) and seen[-1] >= 3)
    assert latest_checkpoint(tmp_path / "part" / "checkpoints").name == "step_000003.json"
    assert not (tmp_path / "part" / "bundle").exists()
    resumed = _trainer(data, tmp_path / "part", 8, precision="auto", sample_every=2, resume=True)
    result = resumed.run()
    assert result.resumed_from == 3 and result.steps == 8

    def losses(out):
        return [{k: v for k, v in r.items() if k != "img_per_s"} for r in _records(out)]

    assert losses(tmp_path / "part") == losses(tmp_path / "full")
    for role, net in full.recipe.modules().items():
        other = resumed.recipe.modules()[role].state_dict()
        for key, value in net.state_dict().items():
            assert torch.equal(value, other[key]), f"{role}.{key} differs after resume"
    assert sorted(p.name for p in (tmp_path / "part" / "samples").iterdir()) == [
        f"step_{s:06d}.png" for s in (2, 4, 6, 8)
    ]
    assert (tmp_path / "part" / "loss_curves.png").stat().st_size > 1000


def test_checkpoints_hold_no_pickle(synthetic_dataset, tmp_path):
    _trainer(_small(synthetic_dataset), tmp_path, 2, checkpoint_every=1).run()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} <= {".json", ".jsonl", ".safetensors", ".png"}
    for p in files:
        head = p.read_bytes()[:2]
        assert head[:1] != b"\x80" and head != b"PK", f"{p} looks like a pickle / torch.save file"
    ckpt = latest_checkpoint(tmp_path / "checkpoints")
    meta = json.loads(ckpt.read_text())
    tensors = load_file(str(ckpt.with_suffix(".safetensors")))
    assert meta["step"] == 2 and meta["recipe"] == "cgan"
    assert any(k.startswith("optim.d.") for k in tensors) and "rng.torch" in tensors
    sources = "".join(p.read_text() for p in Path(__file__).resolve().parents[2].joinpath("engine", "train").rglob("*.py"))
    assert "torch.load" not in sources and "import pickle" not in sources


def test_resume_refuses_a_different_setup(synthetic_dataset, tmp_path):
    data = _small(synthetic_dataset)
    _trainer(data, tmp_path, 1).run()
    recipe = create_recipe("cgan", {**TINY, "z_dim": 20}, data.attributes, seed=0)
    with pytest.raises(FacetError, match="cannot resume a different setup"):
        Trainer(recipe, data, TrainConfig(tmp_path, steps=2, batch_size=16, device="cpu", resume=True)).run()


def test_resume_accepts_a_checkpoint_from_before_a_new_setting(synthetic_dataset, tmp_path):
    """A setting added to a recipe after a run started is taken at its default, so the run resumes; a setting
    the checkpoint records with another value still refuses."""
    data = _small(synthetic_dataset)
    _trainer(data, tmp_path, 1, checkpoint_every=1).run()
    ckpt = latest_checkpoint(tmp_path / "checkpoints")
    meta = json.loads(ckpt.read_text())
    default_lr = meta["recipe_config"].pop("lr")  # as written before "lr" existed
    ckpt.write_text(json.dumps(meta))
    result = _trainer(data, tmp_path, 2, resume=True).run()
    assert result.steps == 2
    meta["recipe_config"]["lr"] = default_lr * 2
    latest_checkpoint(tmp_path / "checkpoints").write_text(json.dumps(meta))
    with pytest.raises(FacetError, match="cannot resume a different setup"):
        _trainer(data, tmp_path, 3, resume=True).run()


def test_refuses_mismatched_data(synthetic_dataset, tmp_path):
    recipe = create_recipe("cgan", {**TINY, "resolution": 64}, synthetic_dataset.attributes, seed=0)
    with pytest.raises(DatasetError, match="32 px"):
        Trainer(recipe, synthetic_dataset, TrainConfig(tmp_path, steps=1))
    recipe = create_recipe("cgan", TINY, synthetic_dataset.attributes, seed=0)
    with pytest.raises(DatasetError, match="fewer than one batch"):
        Trainer(recipe, _small(synthetic_dataset), TrainConfig(tmp_path, steps=1, batch_size=64, device="cpu")).run()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_single_process_gloo_ddp(synthetic_dataset, tmp_path, monkeypatch):
    """world_size=1 DDP over gloo: modules are wrapped while training and the losses match plain training."""
    from torch.nn.parallel import DistributedDataParallel

    for key, value in {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "RANK": "0",
                       "WORLD_SIZE": "1", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(key, value)
    data = _small(synthetic_dataset)
    ddp = _trainer(data, tmp_path / "ddp", 4, precision="fp32", distributed=True)
    wrapped: list[bool] = []
    result = ddp.run(progress=lambda s: wrapped.append(isinstance(ddp.recipe.nets["discriminator"], DistributedDataParallel)))
    assert wrapped[-1] and result.bundle is not None
    assert not torch.distributed.is_initialized()
    assert not isinstance(ddp.recipe.nets["generator"], DistributedDataParallel)
    plain = _trainer(data, tmp_path / "plain", 4, precision="fp32")
    plain.run()
    a = [r["loss_d"] for r in _records(tmp_path / "ddp")]
    b = [r["loss_d"] for r in _records(tmp_path / "plain")]
    assert a == pytest.approx(b, rel=1e-5)


class _Diverging(Recipe):
    """A minimal hand-written recipe (the documented contract) whose loss turns NaN at step 3."""

    name = "diverging"

    @dataclass
    class Config:
        resolution: int = 32

    def __init__(self, config, attributes, base=None):
        super().__init__(config, attributes, base)
        self.nets["net"] = torch.nn.Linear(3, 1)
        self._opts = {"opt": torch.optim.SGD(self.nets["net"].parameters(), lr=0.1)}

    def optimizers(self):
        return self._opts

    def train_step(self, batch, step):
        with self.autocast():
            loss = self.nets["net"](batch[0].mean((2, 3))).float().pow(2).mean()
        self.step("opt", loss)
        return {"loss": float("nan") if step == 3 else loss.item()}

    def sample_grid(self, step):
        return np.zeros((4, 4, 3), np.uint8)


def test_nan_loss_stops_with_a_clear_error(synthetic_dataset, tmp_path):
    recipe = _Diverging(_Diverging.Config(), synthetic_dataset.attributes)
    trainer = Trainer(recipe, synthetic_dataset, TrainConfig(tmp_path, steps=5, batch_size=8, device="cpu", log_every=1))
    with pytest.raises(NumericalError, match="loss became NaN/Inf at step 3"):
        trainer.run()
    assert [r["step"] for r in _records(tmp_path)] == [1, 2]
    assert not (tmp_path / "bundle").exists()
