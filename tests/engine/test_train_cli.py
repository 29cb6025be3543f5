"""``facet train`` in-process: settings precedence, data sources, base bundles and clear refusals."""

from __future__ import annotations

import json

import pytest

from engine.bundle import load_bundle
from engine.cli import main

TINY = ["--resolution", "32", "--set", "g_channels=8", "--set", "d_channels=8", "--set", "z_dim=16"]


def test_train_cgan_on_synthetic_with_json_config(tmp_path, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"steps": 99, "batch_size": 16, "log_every": 1, "recipe": {"z_dim": 12}, "aux_weight": 0.5}))
    out = tmp_path / "run"
    code = main(["train", "cgan", "--synthetic", "48", *TINY[:-2], "--config", str(cfg), "--steps", "3",
                 "--out", str(out), "--precision", "fp32", "--device", "cpu", "--json"])
    assert code == 0
    info = json.loads(capsys.readouterr().out)
    assert info["steps"] == 3 and info["data"]["images"] == 48  # the flag beat the config's 99 steps
    bundle = load_bundle(info["bundle"])
    g = bundle.network("generator").config
    assert (g.z_dim, g.base_channels, g.resolution) == (12, 8, 32)  # config file + --set + --resolution
    training = bundle.manifest["training"]["cgan"]
    assert training["config"]["aux_weight"] == 0.5 and training["precision"] == "fp32" and training["steps"] == 3
    assert len((out / "log.jsonl").read_text().splitlines()) == 3


def test_encoder_needs_a_base_bundle(tmp_path, capsys):
    assert main(["train", "encoder-z", "--synthetic", "32", "--out", str(tmp_path)]) == 2
    assert "needs a trained 'cgan' bundle" in capsys.readouterr().err


def test_encoder_z_on_top_of_a_bundle(tiny_cgan_bundle, tmp_path, capsys):
    out = tmp_path / "ez"
    code = main(["train", "encoder-z", "--bundle", str(tiny_cgan_bundle), "--synthetic", "32", "--steps", "2",
                 "--batch-size", "16", "--set", "base_channels=8", "--set", "feature_dim=32", "--out", str(out),
                 "--device", "cpu", "--quiet"])
    assert code == 0
    b = load_bundle(out / "bundle")
    assert b.resolution == 32 and b.network("encoder_z").config.base_channels == 8  # resolution from the base
    assert {"generator", "discriminator", "encoder_y", "encoder_z"} <= set(b.networks)


def test_refusals(tmp_path, capsys):
    assert main(["train", "cgan", "--synthetic", "32", *TINY, "--set", "wings=2", "--out", str(tmp_path)]) == 2
    assert "no setting(s) wings" in capsys.readouterr().err
    assert main(["train", "cgan", "--synthetic", "32", "--pack", "x.safetensors", "--out", str(tmp_path)]) == 2
    assert "exactly one data source" in capsys.readouterr().err
    assert main(["train", "cgan", "--synthetic", "8", *TINY, "--batch-size", "16", "--out", str(tmp_path)]) == 2
    assert "fewer than one batch" in capsys.readouterr().err


@pytest.fixture
def python_sigint():
    """Python's own SIGINT handler for the test: a process started in the background by a non-interactive shell
    inherits SIGINT ignored, and what the CLI restores afterwards must be checkable anywhere."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_with_a_checkpoint_then_resume(tmp_path, monkeypatch, capsys, python_sigint):
    """The first Ctrl+C (a real SIGINT) finishes the step, checkpoints and exits 130; --resume finishes the run."""
    import os
    import signal

    import engine.progress

    real = engine.progress.tqdm_progress

    def interrupting(desc, disable=False):
        update, close = real(desc, disable=True)

        def progress(step):
            update(step)
            if step.step == 2:
                os.kill(os.getpid(), signal.SIGINT)

        return progress, close

    monkeypatch.setattr(engine.progress, "tqdm_progress", interrupting)
    out = tmp_path / "run"
    argv = ["train", "cgan", "--synthetic", "32", *TINY, "--steps", "4", "--batch-size", "16", "--log-every", "1", "--out", str(out), "--quiet"]
    assert main(argv) == 130
    assert "cancelled" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "checkpoints").glob("*.json")) == ["step_000002.json"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert main(argv) == 2  # a plain re-run refuses to mix with the earlier checkpoints
    assert "--resume" in capsys.readouterr().err
    monkeypatch.setattr(engine.progress, "tqdm_progress", real)
    assert main([*argv, "--resume"]) == 0
    assert [json.loads(r)["step"] for r in (out / "log.jsonl").read_text().splitlines()] == [1, 2, 3, 4]
