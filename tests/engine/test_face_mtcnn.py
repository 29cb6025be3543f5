"""The converted MTCNN bundle: loads from safetensors and computes exactly what the Keras layers compute."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.bundle import load_bundle, read_manifest
from engine.face.detect import DEFAULT_BUNDLE
from engine.models.mtcnn import ONet, PNet, RNet, _pool_same
from engine.models.registry import build_network

ROOT = Path(__file__).resolve().parents[2]


def _converter():
    spec = importlib.util.spec_from_file_location("convert_mtcnn", ROOT / "tools" / "convert_mtcnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(DEFAULT_BUNDLE)


def test_manifest_names_licence_and_origin():
    manifest = read_manifest(DEFAULT_BUNDLE)
    assert manifest["family"] == "mtcnn"
    assert manifest["licence"].startswith("MIT") and "mtcnn" in manifest["origin"]
    assert manifest["weights_dtype"] == "float32"
    assert {spec["class"] for spec in manifest["networks"].values()} == {"mtcnn.PNet", "mtcnn.RNet", "mtcnn.ONet"}


@pytest.mark.parametrize("kind", ["pnet", "rnet", "onet"])
def test_bundle_networks_match_numpy_keras_reference(bundle, kind):
    """Torch layers (pool padding, flatten order, PReLU) vs a naive NHWC re-implementation of Keras."""
    conv = _converter()
    net = bundle.network(kind)
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    params = conv.from_torch_state(kind, state)
    assert params["conv1.kernel"].shape[:2] == (3, 3) and params["conv1.kernel"].shape[2] == 3  # HWIO again
    err = conv.check_against_keras(kind, net, params, seed=1)
    assert err < 1e-4
    # A layout mistake (e.g. flattening in torch's C,H,W order) must be caught by this comparison.
    if kind != "pnet":
        wrong = {**params, f"{'fc4' if kind == 'rnet' else 'fc5'}.kernel": params[f"{'fc4' if kind == 'rnet' else 'fc5'}.kernel"][::-1]}
        assert conv.check_against_keras(kind, net, wrong, seed=1) > 1e-3


def test_pool_same_matches_tensorflow_padding():
    # kernel 3, stride 2. 5 wide: 3 outputs, TF pads 1 before and 1 after -> windows [-1:2], [1:4], [3:6].
    x = torch.arange(5.0).view(1, 1, 1, 5).expand(1, 1, 3, 5).contiguous()
    assert _pool_same(x, 3, 2)[0, 0, 0].tolist() == [1.0, 3.0, 4.0]
    # 4 wide: 2 outputs, the single padding column goes at the end -> windows [0:3], [2:5].
    y = -torch.arange(4.0).view(1, 1, 1, 4).expand(1, 1, 3, 4).contiguous()
    assert _pool_same(y, 3, 2)[0, 0, 0].tolist() == [0.0, -2.0]  # padding never wins a max


def test_networks_build_from_registry_and_check_shapes():
    assert isinstance(build_network("mtcnn.PNet", {}), PNet)
    rnet, onet = build_network("mtcnn.RNet", {}), build_network("mtcnn.ONet", {})
    assert isinstance(rnet, RNet) and isinstance(onet, ONet)
    with torch.no_grad():
        box, prob = PNet()(torch.zeros(2, 3, 30, 40))
        assert box.shape == (2, 4, 10, 15) and prob.shape == (2, 10, 15)
        box, lm, prob = onet(torch.zeros(3, 3, 48, 48))
        assert box.shape == (3, 4) and lm.shape == (3, 10) and prob.shape == (3,)
        assert np.allclose(prob.numpy(), prob.numpy()[0])
    with pytest.raises(ValueError, match="24, 24"):
        rnet(torch.zeros(1, 3, 48, 48))
