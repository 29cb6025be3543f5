"""Quality measures on our own terms: PSNR, SSIM, attribute accuracy, Frechet distances, latent statistics.

Features for Frechet distances come from the project's classifier (``features``, its penultimate layer),
never from ImageNet networks: numbers are comparable between our models, not with published FID values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from engine.bundle import Bundle
from engine.errors import BundleError

SSIM_K1, SSIM_K2, SSIM_SIGMA, SSIM_RADIUS = 0.01, 0.03, 1.5, 5


def _as_float(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (inf for identical images)."""
    a, b = _as_float(a), _as_float(b)
    if a.shape != b.shape:
        raise ValueError(f"psnr: shapes differ {a.shape} vs {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(data_range**2 / mse))


def gaussian_window(sigma: float = SSIM_SIGMA, radius: int = SSIM_RADIUS) -> np.ndarray:
    """The normalised 1-D Gaussian (11 taps for σ = 1.5) of Wang et al. 2004."""
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-(x**2) / (2 * sigma**2))
    return w / w.sum()


def _filter_valid(img: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Separable Gaussian filtering of a 2-D array, keeping only windows fully inside (MATLAB 'valid')."""
    n0, n1 = img.shape[0] - len(w) + 1, img.shape[1] - len(w) + 1
    rows = sum(wk * img[k : k + n0, :] for k, wk in enumerate(w))
    return sum(wk * rows[:, k : k + n1] for k, wk in enumerate(w))


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM with an 11×11 Gaussian window (σ = 1.5), K1 = 0.01, K2 = 0.03 (Wang et al. 2004).

    Colour images are scored per channel and averaged (as skimage does with ``channel_axis``).
    Images must be at least 11 px on each side.
    """
    a, b = _as_float(a), _as_float(b)
    if a.shape != b.shape:
        raise ValueError(f"ssim: shapes differ {a.shape} vs {b.shape}")
    if a.ndim == 3:
        return float(np.mean([ssim(a[..., c], b[..., c], data_range) for c in range(a.shape[2])]))
    w = gaussian_window()
    if min(a.shape) < len(w):
        raise ValueError(f"ssim needs images of at least {len(w)} px per side, got {a.shape}")
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mu_a, mu_b = _filter_valid(a, w), _filter_valid(b, w)
    var_a = _filter_valid(a * a, w) - mu_a**2
    var_b = _filter_valid(b * b, w) - mu_b**2
    cov = _filter_valid(a * b, w) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(s.mean())


# -- classifier-based measures ------------------------------------------------------------------------
def _image_batch(images: Sequence[np.ndarray] | np.ndarray, resolution: int, device: torch.device) -> torch.Tensor:
    from engine.invert.core import image_to_tensor

    return torch.cat([image_to_tensor(np.asarray(im), resolution, device) for im in images])


@torch.no_grad()
def classifier_outputs(bundle: Bundle, images: Sequence[np.ndarray] | np.ndarray, batch_size: int = 64,
                       features: bool = False) -> np.ndarray:
    """Attribute logits (N, n_attrs) — or ``features`` (N, feature_dim) — of a classifier bundle."""
    net = bundle.network("classifier").eval()
    out = []
    for i in range(0, len(images), batch_size):
        x = _image_batch(images[i : i + batch_size], bundle.resolution, bundle.device)
        out.append((net.features(x) if features else net(x)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def label_prior(classifier: Bundle) -> np.ndarray:
    """How often each of the classifier's attributes occurred in its training data (manifest ``data.positive_fraction``)."""
    data = classifier.manifest.get("data")
    frac = data.get("positive_fraction") if isinstance(data, dict) else None
    if not isinstance(frac, dict) or any(a not in frac for a in classifier.attributes):
        where = classifier.path or classifier.manifest.get("name", "the classifier")
        raise BundleError(f"{where}: the manifest does not say how often each attribute occurred in the training data "
                          "(data.positive_fraction), which balanced decisions need; retrain the classifier")
    return np.array([float(frac[a]) for a in classifier.attributes])


def attribute_decisions(classifier: Bundle, images: Sequence[np.ndarray] | np.ndarray,
                        balanced: bool = False) -> np.ndarray:
    """Present (True) or absent per image and classifier attribute, (N, A).

    Plain: logit > 0, the fewest errors on faces as common or rare as in the training data. ``balanced``:
    logit > log(p / (1 - p)) with p the attribute's training frequency (logit adjustment, Menon et al., ICLR
    2021): the best balanced accuracy (mean of recall and specificity), which is what a test with as many faces
    with an attribute as without it calls for. It finds rare attributes that the plain decision mostly misses
    (classifier64 on the held-out faces: moustache recall 0.50 → 1.00) at the cost of some false alarms.
    """
    if not len(images):
        return np.zeros((0, len(classifier.attributes)), bool)
    logits = classifier_outputs(classifier, images)
    if not balanced:
        return logits > 0
    p = np.clip(label_prior(classifier), 1e-4, 1 - 1e-4)
    return logits > np.log(p / (1 - p))


def attribute_accuracy(classifier: Bundle, images: Sequence[np.ndarray] | np.ndarray, targets: np.ndarray,
                       attributes: Sequence[str]) -> dict[str, float]:
    """Per-attribute fraction of images whose classifier decision matches ``targets`` (N, A) (>0 = present).

    Attributes the classifier does not know are skipped; ``"mean"`` averages the rest.
    """
    targets = np.asarray(targets)
    logits = classifier_outputs(classifier, images)
    known = classifier.attributes
    scores: dict[str, float] = {}
    for j, name in enumerate(attributes):
        if name in known:
            scores[name] = float(np.mean((logits[:, known.index(name)] > 0) == (targets[:, j] > 0)))
    if scores:
        scores["mean"] = float(np.mean(list(scores.values())))
    return scores


def balanced_accuracy(decisions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per column, the mean of recall (on targets > 0) and specificity (on the rest); a class that does not
    occur in a column is left out of its mean. Unlike plain accuracy it does not reward never finding a rare
    attribute."""
    decisions, has = np.asarray(decisions, bool), np.asarray(targets) > 0
    parts = []
    for mask, want in ((has, True), (~has, False)):
        n = mask.sum(0)
        parts.append(np.where(n > 0, ((decisions == want) & mask).sum(0) / np.maximum(n, 1), np.nan))
    return np.nanmean(np.stack(parts), axis=0)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||μa − μb||² + Tr(Σa + Σb − 2 (Σa Σb)^½) between two feature sets (rows are samples)."""
    a, b = _as_float(a), _as_float(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise ValueError(f"frechet_distance needs two (N >= 2, d) feature sets of equal d, got {a.shape}, {b.shape}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    # Tr (Σa Σb)^½ = Tr (Σa^½ Σb Σa^½)^½, and the latter is symmetric PSD: eigenvalues, no scipy needed.
    root_a = _psd_sqrt(s_a)
    tr_covmean = float(np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ s_b @ root_a), 0, None)).sum())
    return float(max(0.0, np.sum((mu_a - mu_b) ** 2) + np.trace(s_a) + np.trace(s_b) - 2 * tr_covmean))


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix via its eigen-decomposition."""
    vals, vecs = np.linalg.eigh((m + m.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def frechet_to_standard_normal(codes: np.ndarray) -> float:
    """Frechet distance between the codes' Gaussian fit and the prior N(0, I) (closed form, no sampling)."""
    z = _as_float(codes)
    mu = z.mean(0)
    cov = np.atleast_2d(np.cov(z, rowvar=False))
    eig = np.clip(np.linalg.eigvalsh(cov), 0, None)
    return float(np.sum(mu**2) + np.sum(eig) + len(mu) - 2 * np.sum(np.sqrt(eig)))


@torch.no_grad()
def latent_distance(codes: np.ndarray, latent_discriminator: torch.nn.Module | None = None) -> dict[str, float]:
    """How prior-like a set of z codes (N, z_dim) is.

    ``frechet_prior``: Frechet distance to N(0, I); ``norm_ratio``: mean ||z|| / sqrt(z_dim) (≈ 1 for prior
    samples); ``norm_ratio_std``; ``ld_score``: mean latent-discriminator logit (higher = more prior-like).
    """
    z = _as_float(codes)
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"latent_distance needs (N >= 2, z_dim) codes, got {z.shape}")
    ratio = np.linalg.norm(z, axis=1) / np.sqrt(z.shape[1])
    out = {"frechet_prior": frechet_to_standard_normal(z), "norm_ratio": float(ratio.mean()),
           "norm_ratio_std": float(ratio.std())}
    if latent_discriminator is not None:
        p = next(latent_discriminator.parameters())
        out["ld_score"] = float(latent_discriminator.eval()(torch.as_tensor(z, dtype=p.dtype, device=p.device)).mean())
    return out
