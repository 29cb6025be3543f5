"""The measures of issue 20: locality, realism features, identity (dlib, optional), DiffAugment."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from engine.edit_quality import IdentityJudge, locality, mean_locality, outside_mask
from engine.face.regions import attribute_region
from engine.train.augment import diff_augment, parse_policy


def test_locality_counts_only_what_changed_outside_the_region():
    rng = np.random.default_rng(0)
    before = rng.integers(0, 256, (128, 128, 3)).astype(np.uint8)
    inside = attribute_region("Eyeglasses", 128) > 0
    after = before.copy()
    after[inside] = 255 - after[inside]  # a huge change, all of it inside the eye band
    loc = locality(before, after, "Eyeglasses")
    assert loc.mean_abs == 0.0 and loc.changed == 0.0
    outside = outside_mask("Eyeglasses", 128, "head")
    after2 = before.astype(int)
    after2[outside] += 10  # 10 levels everywhere outside: all of it counts
    loc = locality(before, np.clip(after2, 0, 255).astype(np.uint8), "Eyeglasses")
    assert loc.changed > 0.9 and 9.0 < loc.mean_abs <= 10.0
    assert locality(before, after, "Male") is None  # global: nothing is outside
    assert mean_locality([(before, before), (before, after)], "Eyeglasses").changed == 0.0
    with pytest.raises(ValueError):
        locality(before, before[:64], "Eyeglasses")


def test_identity_is_skipped_with_a_reason_without_dlib(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "dlib" else real(name, *a))
    reason = IdentityJudge.unavailable_reason()
    assert reason is not None and "dlib is not installed" in reason
    with pytest.raises(RuntimeError, match="dlib"):
        IdentityJudge()


@pytest.mark.skipif(IdentityJudge.unavailable_reason() is not None,
                    reason=str(IdentityJudge.unavailable_reason()))
def test_identity_distance_is_zero_for_the_same_crop_and_larger_for_another():
    from engine.data.synthetic import render_face

    a = render_face({"Smiling": True}, 128, np.random.default_rng(1))
    b = render_face({"Eyeglasses": True, "Mustache": True, "Blond_Hair": True}, 128, np.random.default_rng(7))
    judge = IdentityJudge("face")
    assert judge.distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert judge.distance(a, b) > 0.05


def test_diff_augment_keeps_shapes_and_passes_gradients():
    assert parse_policy("color, translation") == ("color", "translation")
    assert parse_policy("none") == ()
    with pytest.raises(ValueError, match="unknown augmentation"):
        parse_policy("colour")
    x = torch.rand(4, 3, 32, 32, requires_grad=True)
    y = diff_augment(x, parse_policy("color,translation,cutout"))
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    torch.manual_seed(3)
    a = diff_augment(x.detach(), ("translation",))
    torch.manual_seed(3)
    assert torch.equal(a, diff_augment(x.detach(), ("translation",)))  # the global RNG: resume-exact
