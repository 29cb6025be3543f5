"""PSNR/SSIM against analytic values and a brute-force reference; Frechet and latent statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.bundle import load_bundle
from engine.errors import BundleError
from engine.metrics import (
    attribute_decisions,
    balanced_accuracy,
    classifier_outputs,
    frechet_distance,
    frechet_to_standard_normal,
    gaussian_window,
    latent_distance,
    psnr,
    ssim,
)


def _ssim_brute_force(a: np.ndarray, b: np.ndarray, L: float = 255.0) -> float:
    """Wang et al. 2004, written out window by window (no filtering tricks)."""
    g = gaussian_window()
    w = np.outer(g, g)
    k = len(g)
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    vals = []
    for i in range(a.shape[0] - k + 1):
        for j in range(a.shape[1] - k + 1):
            pa, pb = a[i : i + k, j : j + k].astype(float), b[i : i + k, j : j + k].astype(float)
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va, vb = (w * (pa - ma) ** 2).sum(), (w * (pb - mb) ** 2).sum()
            cv = (w * (pa - ma) * (pb - mb)).sum()
            vals.append(((2 * ma * mb + c1) * (2 * cv + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_psnr_identical_and_constant_offset():
    rng = np.random.default_rng(0)
    a = rng.integers(20, 200, (16, 16, 3)).astype(np.uint8)
    assert psnr(a, a) == math.inf
    # a constant offset d gives MSE = d², PSNR = 20 log10(255 / d)
    assert psnr(a, a + 5) == pytest.approx(20 * math.log10(255 / 5), abs=1e-9)


def test_ssim_identical_is_one_and_constants_match_the_formula():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (20, 20, 3)).astype(np.uint8)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    # two flat images: σ = 0, SSIM = (2ab + C1) / (a² + b² + C1)
    x, y = np.full((16, 16), 100.0), np.full((16, 16), 150.0)
    c1 = (0.01 * 255) ** 2
    assert ssim(x, y) == pytest.approx((2 * 100 * 150 + c1) / (100**2 + 150**2 + c1), rel=1e-9)


def test_ssim_matches_brute_force_reference():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (15, 17)).astype(np.float64)
    b = np.clip(a + rng.normal(0, 30, a.shape), 0, 255)
    ref = _ssim_brute_force(a, b)
    assert ssim(a, b) == pytest.approx(ref, rel=1e-9)
    assert 0.0 < ref < 0.95
    # colour = mean over channels
    c = rng.integers(0, 256, a.shape).astype(np.float64)
    rgb_a, rgb_b = np.stack([a, a[::-1], c], -1), np.stack([b, b[::-1], 255 - c], -1)
    expected = np.mean([_ssim_brute_force(rgb_a[..., c], rgb_b[..., c]) for c in range(3)])
    assert ssim(rgb_a, rgb_b) == pytest.approx(expected, rel=1e-9)


def test_ssim_falls_with_noise():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (32, 32, 3)).astype(np.float64)
    noisy = [np.clip(a + rng.normal(0, s, a.shape), 0, 255) for s in (5, 20, 60)]
    scores = [ssim(a, n) for n in noisy]
    assert scores[0] > scores[1] > scores[2]


def test_frechet_distance_of_gaussians():
    rng = np.random.default_rng(4)
    a = rng.normal(0, 1, (4000, 3))
    b = rng.normal(0, 1, (4000, 3)) + np.array([2.0, 0, 0])
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # shifted mean, same covariance: distance ≈ ||Δμ||² = 4
    assert frechet_distance(a, b) == pytest.approx(4.0, abs=0.3)
    # scaled: N(0, I) vs N(0, 4 I) in 3-d: Tr(I + 4I − 2·2I) = 3
    assert frechet_distance(a, 2 * rng.normal(0, 1, (4000, 3))) == pytest.approx(3.0, abs=0.3)


def test_latent_distance_prior_vs_shrunk_codes():
    rng = np.random.default_rng(5)
    prior = rng.normal(0, 1, (3000, 8))
    stats = latent_distance(prior)
    assert stats["frechet_prior"] < 0.1
    assert stats["norm_ratio"] == pytest.approx(1.0, abs=0.1)
    shrunk = latent_distance(prior * 0.3 + 1.0)
    assert shrunk["frechet_prior"] > 5
    # closed form: N(μ, σ² I) vs N(0, I) in d dims = ||μ||² + d (1 − σ)²
    assert frechet_to_standard_normal(prior * 0.3 + 1.0) == pytest.approx(8 + 8 * 0.7**2, rel=0.1)


def test_latent_distance_with_discriminator_score():
    ld = torch.nn.Linear(4, 1)
    with torch.no_grad():
        ld.weight.fill_(1.0)
        ld.bias.zero_()
    stats = latent_distance(np.ones((5, 4), np.float32), ld)
    assert stats["ld_score"] == pytest.approx(4.0)


def test_balanced_decisions_move_each_threshold_by_the_training_prior(tiny_classifier_bundle, synthetic_dataset):
    judge = load_bundle(tiny_classifier_bundle)
    images, labels = synthetic_dataset.as_arrays()
    images = images[:64]
    # the trainer recorded the prior: how often each attribute occurred in the training data
    prior = judge.manifest["data"]["positive_fraction"]
    assert prior == pytest.approx({a: float((labels[:, j] > 0).mean()) for j, a in enumerate(judge.attributes)})
    logits = classifier_outputs(judge, images)
    np.testing.assert_array_equal(attribute_decisions(judge, images), logits > 0)
    judge.manifest["data"]["positive_fraction"] = {a: 0.5 for a in judge.attributes}  # even odds: no shift
    np.testing.assert_array_equal(attribute_decisions(judge, images, balanced=True), logits > 0)
    # a rare attribute (1 in 10) is called present from logit log(1/9) = -2.2 on: more often than plain
    judge.manifest["data"]["positive_fraction"] = {a: 0.1 for a in judge.attributes}
    rare = attribute_decisions(judge, images, balanced=True)
    np.testing.assert_array_equal(rare, logits > math.log(0.1 / 0.9))
    assert rare.sum() > (logits > 0).sum()
    assert attribute_decisions(judge, images[:0], balanced=True).shape == (0, len(judge.attributes))
    del judge.manifest["data"]["positive_fraction"]
    with pytest.raises(BundleError, match="positive_fraction"):
        attribute_decisions(judge, images, balanced=True)


def test_balanced_accuracy_weighs_recall_and_specificity_equally():
    targets = np.array([[1, 1, -1], [-1, 1, -1], [-1, 1, -1], [-1, 1, -1]])
    never = np.zeros((4, 3), bool)  # never finds anything: 75 % plain accuracy on column 0, balanced 50 %
    np.testing.assert_allclose(balanced_accuracy(never, targets), [0.5, 0.0, 1.0])
    found = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 0], [0, 1, 1]], bool)
    # column 0: recall 1, specificity 2/3; column 1 has no negatives, column 2 no positives
    np.testing.assert_allclose(balanced_accuracy(found, targets), [(1 + 2 / 3) / 2, 0.75, 0.75])
