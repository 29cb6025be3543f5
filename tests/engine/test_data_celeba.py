"""CelebADataset on tiny generated folders: combined sizes, crops, missing/unlabelled/corrupt images."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.data import CelebADataset
from engine.errors import DatasetError
from engine.images import save_image
from tests.helpers import CELEBA, require

ATTRS = ["Smiling", "Eyeglasses", "Blond_Hair"]


def colour(i: int) -> tuple[int, int, int]:
    return (20 + 30 * i % 220, 200 - 15 * i % 180, 50 + 40 * i % 200)


def make_image(path: Path, i: int, w: int, h: int) -> None:
    """A solid square of colour(i) in the centre, with red bands that the centre crop must remove."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (255, 0, 0)
    top = (h - w) // 2
    img[top : top + w] = colour(i)
    save_image(path, img)


@pytest.fixture
def layout(tmp_path):
    big, half = tmp_path / "img_align_celeba", tmp_path / "img_align_celeba_half"
    big.mkdir()
    half.mkdir()
    rows = []
    for i in range(1, 9):
        folder, (w, h) = (big, (40, 50)) if i <= 4 else (half, (20, 26))
        make_image(folder / f"{i:06d}.png", i, w, h)
        rows.append(f"{i:06d}.png " + " ".join("1" if (i >> j) & 1 else "-1" for j in range(3)))
    rows.append("000099.png 1 1 1")  # label row without an image
    make_image(big / "000050.png", 50, 40, 50)  # image without a label row
    labels = tmp_path / "list_attr_celeba.txt"
    labels.write_text(f"{len(rows)}\n{' '.join(ATTRS)}\n" + "\n".join(rows) + "\n")
    part = tmp_path / "list_eval_partition.txt"
    part.write_text("".join(f"{i:06d}.png {0 if i <= 6 else 1}\n" for i in range(1, 9)) + "000099.png 0\n")
    return tmp_path, [big, half], labels, part


def test_combined_folders_of_different_sizes(layout):
    _, dirs, labels, _ = layout
    ds = CelebADataset(dirs, labels, attributes=["Eyeglasses", "Smiling"], resolution=8)
    assert len(ds) == 8 and ds.attributes == ["Eyeglasses", "Smiling"] and ds.resolution == 8
    assert len(ds.missing) == 1 and ds.unlabelled == ["000050.png"]
    report = ds.report()
    assert "1 label row(s) skipped: no image file (e.g. 000099.png)" in report
    assert "1 image(s) without a label row" in report
    for k in (0, 5):  # one from each folder
        x, y = ds[k]
        i = k + 1
        assert x.shape == (3, 8, 8) and x.dtype == torch.float32
        expected = torch.tensor(colour(i), dtype=torch.float32) / 127.5 - 1
        # The red bands are cropped away: every pixel is the centre colour.
        assert torch.allclose(x, expected[:, None, None].expand(3, 8, 8), atol=2 / 127.5)
        assert y.dtype == torch.float32
        assert y.tolist() == [1.0 if (i >> 1) & 1 else -1.0, 1.0 if i & 1 else -1.0]


def test_split_include_exclude(layout):
    _, dirs, labels, part = layout
    train = CelebADataset(dirs, labels, resolution=8, split="train", partition=part)
    assert train.files == [f"{i:06d}.png" for i in range(1, 7)]
    assert len(train.missing) == 1  # 000099 is in train but has no image
    val = CelebADataset(dirs, labels, resolution=8, split="val", partition=part, exclude=["000008.png"])
    assert val.files == ["000007.png"]
    inc = CelebADataset(dirs, labels, resolution=8, include=["000002.png", "000005.png"])
    assert inc.files == ["000002.png", "000005.png"]
    with pytest.raises(DatasetError, match="partition"):
        CelebADataset(dirs, labels, resolution=8, split="train")


def test_corrupt_image_mid_epoch_is_replaced_and_counted(layout, caplog):
    _, dirs, labels, _ = layout
    ds = CelebADataset(dirs, labels, resolution=8)
    (dirs[0] / "000003.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with caplog.at_level(logging.WARNING, logger="engine.data.celeba"):
        items = [ds[k] for k in range(len(ds))]
    assert len(items) == 8 and all(x.shape == (3, 8, 8) for x, _ in items)
    assert ds.skipped == 1 and ds.skipped_files == ["000003.png"]
    assert "000003.png" in caplog.text
    assert "1 unreadable image(s) replaced" in ds.report()
    # The replacement is a real other sample, image and labels together.
    x, y = items[2]
    j = ds.files.index(
        next(f for f in ds.files if f != "000003.png" and torch.equal(ds[ds.files.index(f)][0], x))
    )
    assert torch.equal(y, torch.from_numpy(ds.labels[j].astype(np.float32)))


def test_all_unreadable_raises_a_clear_error(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(3):
        (d / f"{i}.jpg").write_bytes(b"garbage")
    labels = tmp_path / "l.csv"
    labels.write_text("file,Smiling\n0.jpg,1\n1.jpg,0\n2.jpg,1\n")
    ds = CelebADataset(d, labels, resolution=8)
    with pytest.raises(DatasetError, match="could not be read"):
        ds[0]


def test_bad_folder_and_unknown_attribute(layout, tmp_path):
    _, dirs, labels, _ = layout
    with pytest.raises(DatasetError, match="no such image folder"):
        CelebADataset([tmp_path / "nope"], labels)
    with pytest.raises(DatasetError, match="unknown attribute.*Male"):
        CelebADataset(dirs, labels, attributes=["Male"])


@pytest.mark.celeba
def test_real_celeba_labels_and_items():
    require(CELEBA / "list_attr_celeba.txt")
    ds = CelebADataset(
        [CELEBA / "img_align_celeba", CELEBA / "img_align_celeba_half"],
        CELEBA / "list_attr_celeba.txt",
        attributes=["Smiling", "Eyeglasses", "Blond_Hair"],
        resolution=64,
    )
    assert ds.selected_rows == 26445 and len(ds) == 26445
    assert not ds.missing and not ds.unlabelled
    for k in (0, len(ds) - 1):  # one half-size, one full-size image
        x, y = ds[k]
        assert x.shape == (3, 64, 64) and -1 <= x.min() < x.max() <= 1
        assert set(y.tolist()) <= {-1.0, 1.0}
    assert ds.skipped == 0
