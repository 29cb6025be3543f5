"""Accuracy on real photos: the unaligned CelebA test photos with reference landmarks (60-image subset)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.face import detect_faces
from engine.face.align import TEMPLATE, apply_affine, canvas_matrix
from engine.images import load_image
from tests.helpers import CELEBA, require

RAW = CELEBA / "raw"

pytestmark = pytest.mark.celeba


def read_landmarks(path: Path) -> list[tuple[str, np.ndarray]]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) == 11:
                rows.append((parts[0], np.array(parts[1:], float).reshape(5, 2)))
    return rows


def test_detection_landmarks_and_alignment_on_real_photos():
    require(RAW / "landmarks.txt")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = read_landmarks(RAW / "landmarks.txt")[::5][:60]
        found, errors, canvas_errors = 0, [], []
        for name, ref in rows:
            faces = detect_faces(load_image(RAW / name))
            if not faces:
                continue
            found += 1
            face = faces[0]
            errors.append(np.linalg.norm(face.landmarks - ref, axis=1).mean())
            canvas_errors.append(np.linalg.norm(apply_affine(canvas_matrix(face), ref) - TEMPLATE, axis=1).mean())
    finally:
        torch.set_num_threads(before)
    assert found / len(rows) >= 0.98  # 99.7% on all 300 (bench/face_pipeline.py); one miss may fall in here
    assert np.mean(errors) <= 3.0
    assert np.mean(canvas_errors) <= 3.0
