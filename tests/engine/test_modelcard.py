"""Model cards are rendered from the manifest: licence, steps, metrics and honest 'not measured yet' entries."""

from __future__ import annotations

import torch

from engine.bundle import load_bundle, make_manifest, save_bundle
from engine.modelcard import (
    CARD_NAME,
    CELEBA_LICENCE,
    NOT_MEASURED,
    not_measured,
    render_model_card,
    write_model_card,
)
from engine.models.cgan import Generator


def _manifest() -> dict:
    gen = Generator(Generator.Config(resolution=32, z_dim=8, n_attrs=2, base_channels=4))
    return make_manifest(
        "cgan", 32, ["Smiling", "Male"], {"generator": gen}, name="cgan32-test",
        status="early, under-trained checkpoint (step 120 of 2000)", licence=CELEBA_LICENCE,
        data={"description": "CelebA test", "images": 1000, "validation": {"list": "v.txt", "count": 500, "files": ["1.jpg"]}},
        training={"cgan": {"steps": 120, "batch_size": 64, "config": {"z_dim": 8}, "command": "facet train cgan --steps 2000"}},
        metrics={"psnr": 21.23456, "fid_classifier": not_measured("no classifier yet"),
                 "transfer_success": {"Smiling": {"pairs": 50, "added": 0.9}, "Male": {"pairs": 40, "added": 0.5}}},
    ), gen


def test_card_states_licence_status_steps_and_metrics() -> None:
    manifest, _ = _manifest()
    card = render_model_card(manifest)
    assert card.startswith("# cgan32-test")
    assert "non-commercial research only" in card
    assert "step 120 of 2000" in card
    assert "| cgan | steps 120, batch_size 64 |" in card  # config and command are not dumped into the table
    assert "facet train cgan --steps 2000" in card
    assert "| psnr | 21.23 |" in card
    assert f"| fid_classifier | {NOT_MEASURED} (no classifier yet) |" in card
    assert "500 faces listed in `v.txt`" in card
    assert "| transfer_success | Smiling (pairs 50, added 0.9), Male (pairs 40, added 0.5) |" in card
    assert "1.jpg" not in card  # the file list stays in the manifest


def test_card_lists_the_extra_tensors_it_stores() -> None:
    manifest, _ = _manifest()
    assert "Stored with the weights" not in render_model_card(manifest)
    manifest.update(attribute_vectors={"images": 2000}, latent_metric={"images": 24, "condition": 1612.4})
    card = render_model_card(manifest)
    assert "- Attribute vectors (mean E_z with minus without, `facet edit --vector`): 2000 training faces" in card
    assert "24 training faces, condition number 1612" in card


def test_card_without_metrics_says_not_measured() -> None:
    manifest, _ = _manifest()
    card = render_model_card(manifest, metrics={})
    assert f"| (none) | {NOT_MEASURED} |" in card


def test_write_model_card_next_to_a_loadable_bundle(tmp_path) -> None:
    manifest, gen = _manifest()
    save_bundle(tmp_path / "b", {"generator": gen}, manifest, dtype=torch.float16)
    path = write_model_card(tmp_path / "b")
    assert path.name == CARD_NAME
    assert "weights | float16" in path.read_text(encoding="utf-8")
    assert load_bundle(tmp_path / "b").name == "cgan32-test"  # the card does not disturb loading
