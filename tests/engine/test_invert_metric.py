"""The latent metric: its curvature is the objective's, its preconditioner rounds a stiff problem, and the
bundle stores it (keeping the weights' dtype) for hybrid and optimize inversion to use."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from engine.bundle import load_bundle, save_bundle, store_tensors
from engine.cli import main
from engine.errors import FacetError
from engine.invert import invert
from engine.invert.core import OptimConfig, image_to_tensor, optimize_latent_job
from engine.invert.hybrid import encoder_start
from engine.invert.metric import (
    METRIC,
    bundle_preconditioner,
    latent_hessian_job,
    latent_metric,
    preconditioner,
)
from engine.losses import reconstruction_loss
from engine.progress import drive


class _Identity(nn.Module):
    """A "generator" whose image is the code itself: the objective alone sets the geometry."""

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return z[:, :, None, None]


class _FakeBundle:
    def network(self, name: str) -> nn.Module:
        return _Identity()


def _stiff_quadratic(dim: int = 40, condition: float = 1e4, seed: int = 0):
    """f(z) = (z − t)ᵀ A (z − t) with A's eigenvalues spread over ``condition`` in a random basis."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g))
    lam = torch.logspace(0, -np.log10(condition), dim)
    a = (q * lam) @ q.T
    t = torch.randn(1, dim, generator=g)

    def objective(z: torch.Tensor, y: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
        d = z - t
        return ((d @ a) * d).sum(1)

    return a, objective


def _final_loss(objective, dim: int, P: torch.Tensor | None, steps: int = 15) -> float:
    cfg = OptimConfig(steps=steps, lr=1.0, optimizer="lbfgs", precondition=P)
    out = drive(optimize_latent_job(_FakeBundle(), objective, torch.zeros(1, dim), torch.zeros(1, 1), cfg))
    return out.losses[-1]


def test_preconditioner_rounds_a_stiff_problem():
    a, objective = _stiff_quadratic()
    plain = _final_loss(objective, 40, None)
    rounded = _final_loss(objective, 40, preconditioner(2 * a, floor=1e-6))
    assert plain > 1e-3  # 15 evaluations are not enough on z itself
    assert rounded < 1e-8 < plain * 1e-4


def test_identity_preconditioner_changes_nothing():
    _, objective = _stiff_quadratic(dim=10, condition=100)
    assert _final_loss(objective, 10, None) == pytest.approx(_final_loss(objective, 10, torch.eye(10)), rel=1e-5)


def test_preconditioner_floors_flat_directions_and_rejects_a_zero_metric():
    P = preconditioner(torch.diag(torch.tensor([4.0, 1.0, 0.0])), floor=1e-2)
    scales = torch.diag(P)
    assert scales[0] == pytest.approx(1.0)
    assert scales[1] == pytest.approx(((4 + 0.04) / (1 + 0.04)) ** 0.5, rel=1e-5)
    assert scales[2] == pytest.approx(((4 + 0.04) / 0.04) ** 0.5, rel=1e-5)  # bounded, not infinite
    with pytest.raises(FacetError, match="no positive direction"):
        preconditioner(torch.zeros(3, 3))


@pytest.fixture(scope="module")
def bundle(tiny_cgan_bundle):
    return load_bundle(tiny_cgan_bundle)


@pytest.fixture(scope="module")
def faces(synthetic_dataset):
    return [synthetic_dataset[i][0] for i in range(3)]


def test_metric_is_the_objectives_curvature(bundle, faces):
    """vᵀHv equals the objective's second difference along v at the encoder's code (where it is zero)."""
    H = drive(latent_hessian_job(bundle, faces[:1]))
    assert H.shape == (32, 32)
    assert torch.allclose(H, H.T)
    assert torch.linalg.eigvalsh(H.double()).min() > -1e-4 * torch.linalg.eigvalsh(H.double()).max()
    x = torch.as_tensor(faces[0])[None]
    z0, y = encoder_start(bundle, x)
    G = bundle.network("generator")
    loss = reconstruction_loss(bundle).set_target(G(z0, y))
    g = torch.Generator().manual_seed(3)
    for _ in range(3):
        v = torch.randn(1, 32, generator=g)
        # the second difference converges to vᵀHv as h → 0 (its error grows with h²): take two steps and
        # extrapolate (Richardson), so the check does not depend on how curved this tiny G happens to be
        with torch.no_grad():
            def second(h: float, v: torch.Tensor = v) -> float:
                return float(loss(G(z0 + h * v, y)) + loss(G(z0 - h * v, y)) - 2 * loss(G(z0, y))) / h**2

            limit = (4 * second(5e-3) - second(1e-2)) / 3
        assert float(v @ H @ v.T) == pytest.approx(limit, rel=0.05)


def test_metric_averages_faces_and_needs_some(bundle, faces):
    single = [drive(latent_hessian_job(bundle, [f])) for f in faces[:2]]
    assert torch.allclose(latent_metric(bundle, faces[:2]), (single[0] + single[1]) / 2, atol=1e-6)
    with pytest.raises(FacetError, match="no images"):
        latent_metric(bundle, [])


def test_cli_stores_the_metric_and_inversion_uses_it(tiny_cgan_bundle, faces, tmp_path, capsys):
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_cgan_bundle, copy)
    assert bundle_preconditioner(load_bundle(copy)) is None
    assert main(["latent-metric", "--bundle", str(copy), "--synthetic", "6", "--n", "4", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 4 and report["condition"] >= 1
    stored = load_bundle(copy)
    assert stored.tensors[METRIC].shape == (32, 32)
    assert stored.manifest[METRIC]["images"] == 4
    assert bundle_preconditioner(stored) is bundle_preconditioner(stored)  # built once per loaded metric

    image = (np.clip(faces[1].permute(1, 2, 0).numpy(), -1, 1) * 127.5 + 127.5).astype(np.uint8)
    used = invert(image, stored, "hybrid", steps=20)
    plain = invert(image, stored, "hybrid", steps=20, precondition=False)
    encoder = invert(image, stored, "encoder")
    assert not np.allclose(used.code.z, plain.code.z)  # the metric changes the path taken
    adam = [invert(image, stored, "hybrid", steps=5, optimizer="adam", **o) for o in ({}, {"precondition": False})]
    assert np.array_equal(adam[0].code.z, adam[1].code.z)  # Adam stays on z unless asked
    target = image_to_tensor(image, 32)
    loss = reconstruction_loss(stored).set_target(target)
    G = stored.network("generator")
    with torch.no_grad():
        costs = [float(loss(G(torch.as_tensor(r.code.z)[None], torch.as_tensor(r.code.y)[None])))
                 for r in (used, encoder)]
    assert costs[0] < costs[1]


def test_store_tensors_keeps_an_fp16_bundle_fp16(bundle, tmp_path):
    save_bundle(tmp_path / "half", bundle.networks, bundle.manifest, dtype=torch.float16)
    half = load_bundle(tmp_path / "half")
    size = (tmp_path / "half" / "weights.safetensors").stat().st_size
    store_tensors(half, {METRIC: torch.eye(32)}, {METRIC: {"images": 1}})
    assert load_bundle(tmp_path / "half").manifest["weights_dtype"] == "float16"
    assert (tmp_path / "half" / "weights.safetensors").stat().st_size < size + 32 * 32 * 4 + 1024
    assert torch.equal(load_bundle(tmp_path / "half").tensors[METRIC], torch.eye(32))
