"""The default models shipped in resources/models: they load, say what they are, and stay within budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT

MODELS = ROOT / "resources" / "models"
BUNDLES = sorted(p for p in MODELS.iterdir() if (p / "manifest.json").exists())
CELEBA_TRAINED = [p for p in BUNDLES if p.name != "mtcnn"]
BUDGET_MB = 150


def test_the_defaults_cover_every_family_the_app_uses():
    families = {json.loads((p / "manifest.json").read_text())["family"] for p in BUNDLES}
    assert {"mtcnn", "cgan", "classifier", "elegant"} <= families, families


@pytest.mark.parametrize("path", BUNDLES, ids=lambda p: p.name)
def test_bundle_loads_with_fp16_weights(path):
    from engine.bundle import load_bundle

    if path.name == "mtcnn":
        from engine.face.detect import Detector

        Detector(path)
        return
    bundle = load_bundle(path)
    assert json.loads((path / "manifest.json").read_text())["weights_dtype"] == "float16"
    assert bundle.attributes and bundle.resolution in (64, 128)


@pytest.mark.parametrize("path", CELEBA_TRAINED, ids=lambda p: p.name)
def test_celeba_models_state_licence_validation_and_metrics(path):
    manifest = json.loads((path / "manifest.json").read_text())
    card = (path / "MODEL_CARD.md").read_text()
    assert "non-commercial" in manifest["licence"] and "non-commercial" in card
    held_out = [ln.strip() for ln in (MODELS / "validation_faces.txt").read_text().splitlines()
                if ln.strip() and not ln.startswith("#")]
    assert len(held_out) == 500 and manifest["data"]["validation"]["files"] == held_out
    assert manifest["training"] and all(int(t["steps"]) > 0 for t in manifest["training"].values())
    assert manifest["metrics"]["validation_faces"] == 500


def test_the_cgan_ships_its_inversion_tensors():
    """Attribute vectors (`facet edit --vector`) and the latent metric hybrid inversion preconditions with."""
    from engine.bundle import load_bundle
    from engine.invert.metric import METRIC, bundle_preconditioner

    bundle = load_bundle(MODELS / "cgan64")
    z_dim = bundle.network("generator").config.z_dim
    assert bundle.tensors["attribute_vectors"].shape == (len(bundle.attributes), z_dim)
    assert bundle.tensors[METRIC].shape == (z_dim, z_dim)
    assert bundle_preconditioner(bundle) is not None
    card = (MODELS / "cgan64" / "MODEL_CARD.md").read_text()
    assert "Attribute vectors" in card and "Latent metric" in card


def test_the_latent_metric_helps_hybrid_inversion_of_the_sample_face():
    """With the default 50 evaluations the preconditioned path ends lower (0.614 vs 0.626 here; 20 held-out faces:
    0.527 vs 0.547, docs/benchmarks.md)."""
    from engine.bundle import load_bundle
    from engine.images import load_image
    from engine.invert import invert
    from engine.session import EditSession

    bundle = load_bundle(MODELS / "cgan64")
    crop = EditSession(load_image(ROOT / "resources" / "samples" / "astronaut.png"), cgan=bundle).faces[0].crop
    used, plain = (invert(crop, bundle, "hybrid", **o).losses[-1] for o in ({}, {"precondition": False}))
    assert used < plain * 0.995


def test_total_size_is_within_budget():
    total = sum(f.stat().st_size for f in MODELS.rglob("*") if f.is_file())
    assert total < BUDGET_MB * 1e6, f"resources/models is {total / 1e6:.1f} MB (budget {BUDGET_MB} MB)"


def test_bundled_exemplars_are_generated_faces():
    folder = ROOT / "resources" / "exemplars"
    from engine.images import load_image

    files = sorted(folder.glob("*.png"))
    assert files and "generated" in (folder / "README.md").read_text().lower()
    assert all(load_image(f).shape == (128, 128, 3) for f in files)


@pytest.mark.slow
def test_selftest_passes_with_the_shipped_models(tmp_path):
    """What the README's run command and the installers start with: every self-test check passes."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", FACET_SELFTEST_STEPS="3", FACET_STUDIO_HOME=str(tmp_path))
    env.pop("FACET_MODELS_DIR", None)
    proc = subprocess.run([sys.executable, "-m", "app.selftest"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "self-test: 10/10 checks passed" in proc.stdout
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("PASS model elegant"))
    assert str(MODELS / "elegant64") in line
