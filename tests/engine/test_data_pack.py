"""Training packs: round trip, validation of damaged files, the `facet pack` / `dataset-info` commands."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from engine.data import CelebADataset, PackDataset, SyntheticFaces, build_pack, read_pack_metadata
from engine.errors import Cancelled, DatasetError
from engine.images import save_image


def test_round_trip_synthetic(tmp_path):
    ds = SyntheticFaces(20, 16, seed=2, attributes=["Smiling", "Bangs"])
    steps = []
    meta = build_pack(ds, tmp_path / "p.safetensors", progress=steps.append)
    assert steps[-1].step == steps[-1].total == 20
    assert meta["count"] == 20 and meta["attributes"] == ["Smiling", "Bangs"]
    pack = PackDataset(tmp_path / "p.safetensors")
    assert len(pack) == 20 and pack.resolution == 16 and pack.attributes == ["Smiling", "Bangs"]
    assert pack.files == ds.files and "synthetic" in pack.source_note
    for i in (0, 13):
        x, y = pack[i]
        x0, y0 = ds[i]
        assert torch.equal(x, x0) and torch.equal(y, y0)  # uint8 storage is exact for uint8 sources
    xb, yb = pack.batch([0, 13])
    assert torch.equal(xb[1], ds[13][0]) and torch.equal(yb[0], ds[0][1])


def test_a_subset_of_the_attributes_can_be_chosen(tmp_path):
    ds = SyntheticFaces(12, 16, seed=3, attributes=["Smiling", "Bangs", "Eyeglasses"])
    build_pack(ds, tmp_path / "p.safetensors")
    sub = PackDataset(tmp_path / "p.safetensors", attributes=["Eyeglasses", "Smiling"])
    assert sub.attributes == ["Eyeglasses", "Smiling"]
    for i in (0, 7):
        assert sub[i][1].tolist() == [ds[i][1][2].item(), ds[i][1][0].item()]
    assert sub.batch([7])[1][0].tolist() == sub[7][1].tolist()
    with pytest.raises(DatasetError, match="no labels for \\['Male'\\]"):
        PackDataset(tmp_path / "p.safetensors", attributes=["Male"])


def test_round_trip_celeba_with_unreadable_image(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(5):
        save_image(d / f"{i}.png", np.full((12, 10, 3), 40 * i, np.uint8))
    (d / "2.png").write_bytes(b"broken")
    labels = tmp_path / "l.csv"
    labels.write_text("file,Smiling\n" + "".join(f"{i}.png,{i % 2}\n" for i in range(5)))
    ds = CelebADataset(d, labels, resolution=8)
    meta = build_pack(ds, tmp_path / "c.safetensors")
    assert meta["skipped"] == ["2.png"] and "non-commercial" in meta["source"]
    pack = PackDataset(tmp_path / "c.safetensors")
    assert pack.files == ["0.png", "1.png", "3.png", "4.png"]
    assert pack[2][0].mean().item() == pytest.approx(120 / 127.5 - 1)
    assert pack[2][1].tolist() == [1.0] and pack[1][1].tolist() == [1.0] and pack[0][1].tolist() == [-1.0]


def test_pool_workers_give_the_same_pack(tmp_path):
    ds = SyntheticFaces(40, 16, seed=7)
    build_pack(ds, tmp_path / "a.safetensors")
    build_pack(ds, tmp_path / "b.safetensors", workers=2)
    a, b = PackDataset(tmp_path / "a.safetensors"), PackDataset(tmp_path / "b.safetensors")
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)


def test_cancel_leaves_no_file(tmp_path):
    ds = SyntheticFaces(600, 8)
    with pytest.raises(Cancelled):
        build_pack(ds, tmp_path / "x.safetensors", cancel=lambda: True)
    assert list(tmp_path.iterdir()) == []


def test_truncated_and_foreign_files_are_refused(tmp_path):
    path = tmp_path / "p.safetensors"
    build_pack(SyntheticFaces(10, 16), path)
    data = path.read_bytes()
    (tmp_path / "t.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="t.safetensors"):
        PackDataset(tmp_path / "t.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"hello")
    with pytest.raises(DatasetError, match="junk.safetensors"):
        PackDataset(tmp_path / "junk.safetensors")
    with pytest.raises(DatasetError, match="no such pack"):
        PackDataset(tmp_path / "none.safetensors")


def test_metadata_mismatch_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "p.safetensors"
    build_pack(SyntheticFaces(4, 8), path)
    meta = read_pack_metadata(path)
    meta.pop("_shapes")
    meta["files"] = meta["files"][:3]
    save_file(
        {"images": torch.zeros(4, 8, 8, 3, dtype=torch.uint8), "labels": torch.ones(4, 5, dtype=torch.int8)},
        str(tmp_path / "m.safetensors"),
        metadata={"format": "facet-pack", "facet": json.dumps(meta)},
    )
    with pytest.raises(DatasetError, match="do not match its metadata"):
        PackDataset(tmp_path / "m.safetensors")


def run_cli(argv):
    from engine.cli import data as cli_data

    parser = argparse.ArgumentParser(prog="facet")
    cli_data.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_pack_and_info(tmp_path, capsys):
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(6):
        save_image(d / f"{i:06d}.jpg", np.full((22, 18, 3), 30 * i, np.uint8))
    labels = tmp_path / "list_attr_celeba.txt"
    labels.write_text("7\nSmiling Bangs Male\n" + "".join(f"{i:06d}.jpg 1 -1 1\n" for i in range(7)))
    part = tmp_path / "list_eval_partition.txt"
    part.write_text("".join(f"{i:06d}.jpg {0 if i < 4 else 2}\n" for i in range(7)))
    out = tmp_path / "pack.safetensors"
    rc = run_cli(
        [
            "pack",
            "--images",
            str(d),
            "--labels",
            str(labels),
            "--partition",
            str(part),
            "--split",
            "train",
            "--attributes",
            "Bangs,Smiling",
            "--resolution",
            "8",
            "-o",
            str(out),
            "--quiet",
            "--json",
        ]
    )
    assert rc == 0
    result = json.loads(capsys.readouterr().out)
    assert result["count"] == 4 and result["attributes"] == ["Bangs", "Smiling"]
    assert PackDataset(out)[0][1].tolist() == [-1.0, 1.0]
    assert run_cli(["dataset-info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["images"] == 4 and info["positive_fraction"] == {"Bangs": 0.0, "Smiling": 1.0}
    assert run_cli(["dataset-info", "--images", str(d), "--labels", str(labels)]) == 0
    text = capsys.readouterr().out
    assert "6 images at 64 px" in text and "1 label row(s) skipped" in text
