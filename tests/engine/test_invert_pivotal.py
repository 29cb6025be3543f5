"""Pivotal tuning (PTI) on the tiny synthetic-data cGAN: it reconstructs better than its pivot, leaves other faces'
codes alone, is stored compactly in sessions and projects, and stops cleanly when it diverges."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from app.project import read_project, write_project
from engine.bundle import load_bundle
from engine.data import SyntheticFaces
from engine.edit import render
from engine.errors import Cancelled, FacetError
from engine.invert import LatentCode, invert
from engine.invert import pivotal as P
from engine.invert.core import tensor_to_image
from engine.ops import SetAttribute
from engine.progress import drive
from engine.session import EditSession


@pytest.fixture(scope="module")
def bundle(tiny_cgan_bundle):
    return load_bundle(tiny_cgan_bundle)


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """A synthetic face the generator never drew (its inversion is not exact)."""
    return tensor_to_image(SyntheticFaces(4, resolution=32, seed=5)[1][0])


@pytest.fixture(scope="module")
def tuned(bundle, face):
    return invert(face, bundle, "pivotal", seed=0)


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def far_codes(bundle, n: int = 8) -> list[LatentCode]:
    rng = np.random.default_rng(1)
    return [LatentCode(rng.standard_normal(32), rng.choice([-1.0, 1.0], len(bundle.attributes))) for _ in range(n)]


def mean_change(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_pivotal_tuning_reconstructs_better_than_its_pivot(bundle, face, tuned):
    hybrid = invert(face, bundle, "hybrid", seed=0)
    np.testing.assert_array_equal(tuned.code.z, hybrid.code.z)  # the pivot is hybrid's code
    assert tuned.method == "pivotal" and tuned.tuned is not None and tuned.note == ""
    assert mse(tuned.reconstruction, face) < 0.5 * mse(hybrid.reconstruction, face)
    # the stored (float16) weights render exactly the reconstruction the job returned
    np.testing.assert_array_equal(P.render(bundle, tuned.code, tuned.tuned), tuned.reconstruction)
    assert tuned.steps == 50 + P.TUNE_STEPS and tuned.tuned.nbytes < 40_000


def test_a_code_far_from_the_pivot_renders_as_before(bundle, tuned):
    pivot_change = mean_change(P.render(bundle, tuned.code, tuned.tuned), render(bundle, tuned.code))
    assert pivot_change > 10
    edited = LatentCode(tuned.code.z, -tuned.code.y)  # an attribute edit keeps z: the tuning applies in full
    assert float(tuned.tuned.strength(torch.from_numpy(edited.z)[None])) == 1.0
    far = [mean_change(P.render(bundle, c, tuned.tuned), render(bundle, c)) for c in far_codes(bundle)]
    assert max(far) < 2.0 and max(far) < 0.05 * pivot_change, far  # other faces: (almost) as before tuning


def test_the_locality_term_keeps_the_tuned_layers_close_to_the_generator(bundle, face):
    """PTI's regulariser, measured with the change applied in full everywhere (no fall-off with distance)."""
    def ungated_far_change(locality: float) -> float:
        result = invert(face, bundle, "pivotal", steps=100, locality=locality)
        everywhere = copy.copy(result.tuned)
        everywhere.radius, everywhere._deltas = 1e6, {}
        return np.mean([mean_change(P.render(bundle, c, everywhere), render(bundle, c)) for c in far_codes(bundle)])

    assert ungated_far_change(1.0) < 0.8 * ungated_far_change(0.0)


def test_tuned_weights_round_trip_through_a_project_file(bundle, tiny_cgan_bundle, face, tmp_path):
    s = EditSession(face, bundle, detect=False)
    change = drive(s.invert_face_job(0, "best"))
    assert s.faces[0].method == "pivotal" and s.faces[0].tuned is not None and "pivotal" in change.description
    assert np.array_equal(s.render_face(0), s.faces[0].crop)  # no edit: the photo's own face, bit for bit
    s.apply(SetAttribute(0, bundle.attributes[0], -float(np.sign(s.faces[0].code.y[0]) or 1)))
    before = s.render_face(0)
    path = write_project(tmp_path / "p.facet", s.to_dict())
    assert path.stat().st_size < face.nbytes + 60_000  # photo, crop and ~18 KB of tuned weights
    data, _ = read_project(path)
    again = EditSession.from_dict(data, load_bundle(tiny_cgan_bundle))
    stored, loaded = s.faces[0].tuned, again.faces[0].tuned
    assert loaded.base == stored.base and loaded.deltas.keys() == stored.deltas.keys()
    for name, parts in stored.deltas.items():
        for key, arr in parts.items():
            np.testing.assert_array_equal(loaded.deltas[name][key], arr)
    np.testing.assert_array_equal(again.render_face(0), before)


def test_the_session_renders_edits_through_the_faces_tuned_generator(bundle, face):
    s = EditSession(face, bundle, detect=False, keep_face=False)
    drive(s.invert_face_job(0, "pivotal"))
    s.apply(SetAttribute(0, bundle.attributes[1], 1.0))
    code = s.face_code(0)
    np.testing.assert_array_equal(s.render_face(0), P.render(bundle, code, s.faces[0].tuned))
    assert mean_change(s.render_face(0), render(bundle, code)) > 5


def test_a_project_whose_tuned_weights_do_not_fit_the_generator_is_refused(bundle, tiny_cgan_bundle, face, tuned):
    s = EditSession(face, bundle, detect=False)
    s.faces[0].code, s.faces[0].tuned, s.faces[0].method = tuned.code, tuned.tuned, "pivotal"
    data = s.to_dict()
    other = load_bundle(tiny_cgan_bundle)  # the same model with one weight nudged: another generator
    with torch.no_grad():
        other.network("generator").main[0].weight[0, 0, 0, 0] += 0.1
    with pytest.raises(FacetError, match="face 1: its tuned weights were made for a generator with fingerprint"):
        EditSession.from_dict(data, other)
    name = next(iter(tuned.tuned.deltas))
    bad = copy.deepcopy(data)
    bad["faces"][0]["tuned"]["deltas"][name] = {"full": np.zeros((3, 2), np.float16)}
    with pytest.raises(FacetError, match=rf"face 1: its tuned change of {name} has shape \(3, 2\)"):
        EditSession.from_dict(bad, load_bundle(tiny_cgan_bundle))
    bad = copy.deepcopy(data)
    bad["faces"][0]["tuned"]["deltas"]["main.99.weight"] = {"full": np.zeros(3, np.float16)}
    with pytest.raises(FacetError, match="main.99.weight.*does not have"):
        EditSession.from_dict(bad, load_bundle(tiny_cgan_bundle))
    bad = copy.deepcopy(data)
    bad["faces"][0]["tuned"]["radius"] = float("nan")
    with pytest.raises(FacetError, match=r"corrupt session: faces\[0\].tuned radius"):
        EditSession.from_dict(bad, bundle)


def test_a_diverging_tuning_stops_with_a_message_and_keeps_the_untuned_code(bundle, face, monkeypatch):
    result = invert(face, bundle, "pivotal", lr=1e6)
    hybrid = invert(face, bundle, "hybrid")
    assert result.tuned is None and result.note.startswith("pivotal tuning stopped: the ")
    assert "keeps its untuned inversion" in result.note
    np.testing.assert_array_equal(result.code.z, hybrid.code.z)
    np.testing.assert_array_equal(result.reconstruction, render(bundle, result.code))
    monkeypatch.setattr(P, "TUNE_LR", 1e6)
    s = EditSession(face, bundle, detect=False)
    change = drive(s.invert_face_job(0, "pivotal"))
    assert s.faces[0].tuned is None and s.faces[0].method == "hybrid" and "stopped" in change.description


def test_cancel_during_tuning_stores_nothing(bundle, face):
    s = EditSession(face, bundle, detect=False)
    seen: list[tuple[int, int]] = []
    with pytest.raises(Cancelled):
        drive(s.invert_face_job(0, "pivotal"), progress=lambda st: seen.append((st.step, st.total)),
              cancel=lambda: bool(seen) and seen[-1][0] >= 60)
    assert seen[-1][0] == 60 and {t for _, t in seen} == {50 + P.TUNE_STEPS}  # one bar: pivot, then tuning
    assert s.faces[0].code is None and s.faces[0].tuned is None


def test_a_big_layer_is_kept_as_a_low_rank_factor_pair(bundle, face):
    result = invert(face, bundle, "pivotal", steps=30, rank=2)
    pairs = [p for p in result.tuned.deltas.values() if "a" in p]
    assert pairs and all(p["a"].shape[1] == 2 == p["b"].shape[0] for p in pairs)
    np.testing.assert_array_equal(P.render(bundle, result.code, result.tuned), result.reconstruction)


def test_tuning_and_tuned_renders_never_touch_the_shared_generator(bundle, face, tuned):
    """The app refines an inversion in a thread of its own while the worker renders edits with the same G: neither
    may see the other's weights. Every module of G that runs must run with its own parameters."""
    G = bundle.network("generator")
    own = {name: {k: id(v) for k, v in m.named_parameters(recurse=False)} for name, m in G.named_modules()}
    seen: list[str] = []

    def check(module, _args, name=""):
        if {k: id(v) for k, v in module.named_parameters(recurse=False)} != own[name]:
            seen.append(name)

    handles = [m.register_forward_pre_hook(lambda mod, args, n=n: check(mod, args, n)) for n, m in G.named_modules()]
    try:
        P.render(bundle, tuned.code, tuned.tuned)
        invert(face, bundle, "pivotal", steps=5)
    finally:
        for h in handles:
            h.remove()
    assert seen == []
    state = {k: v.clone() for k, v in G.state_dict().items()}
    P.render(bundle, tuned.code, tuned.tuned)
    assert all(torch.equal(state[k], v) for k, v in G.state_dict().items())
