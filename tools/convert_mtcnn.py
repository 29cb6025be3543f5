"""Convert the MIT-licensed ``mtcnn`` v1.0.0 Keras weights into a Facet bundle (dev-only, run once).

    pip install "facet-studio[convert]"      # mtcnn==1.0.0, joblib, lz4 (never needed at run time)
    python tools/convert_mtcnn.py [--out resources/models/mtcnn]

Reads ``mtcnn/assets/weights/{pnet,rnet,onet}.lz4`` (joblib lists of numpy arrays in Keras layer order)
with joblib only — the package's TensorFlow code is never imported. Layout changes: conv kernels
HWIO -> OIHW, PReLU alphas (1, 1, C) -> (C,), dense kernels (in, out) -> (out, in) (the torch networks
flatten in Keras' permuted order, so dense rows need no reordering). Before saving, every network is
checked against :func:`keras_forward`, a plain numpy re-implementation of the Keras layers.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "resources" / "models" / "mtcnn"

# Keras layer stacks in order: (kind, name, args). Weights come in this order (kernel, bias | alpha).
STACKS: dict[str, list[tuple]] = {
    "pnet": [
        ("conv", "conv1"), ("prelu", "prelu1"), ("pool_same", 2, 2),
        ("conv", "conv2"), ("prelu", "prelu2"),
        ("conv", "conv3"), ("prelu", "prelu3"),
        ("heads_conv", "box", "cls"),
    ],
    "rnet": [
        ("conv", "conv1"), ("prelu", "prelu1"), ("pool_same", 3, 2),
        ("conv", "conv2"), ("prelu", "prelu2"), ("pool_valid", 3, 2),
        ("conv", "conv3"), ("prelu", "prelu3"),
        ("flatten",), ("dense", "fc4"), ("prelu", "prelu4"),
        ("heads", "box", "cls"),
    ],
    "onet": [
        ("conv", "conv1"), ("prelu", "prelu1"), ("pool_same", 3, 2),
        ("conv", "conv2"), ("prelu", "prelu2"), ("pool_valid", 3, 2),
        ("conv", "conv3"), ("prelu", "prelu3"), ("pool_same", 2, 2),
        ("conv", "conv4"), ("prelu", "prelu4"),
        ("flatten",), ("dense", "fc5"), ("prelu", "prelu5"),
        ("heads", "box", "landmarks", "cls"),
    ],
}


def param_names(kind: str) -> list[str]:
    """Names of the flat Keras weight list of network ``kind``, in order: ``layer.kernel|bias|alpha``."""
    names: list[str] = []
    for layer in STACKS[kind]:
        if layer[0] in ("conv", "dense"):
            names += [f"{layer[1]}.kernel", f"{layer[1]}.bias"]
        elif layer[0] == "prelu":
            names.append(f"{layer[1]}.alpha")
        elif layer[0] in ("heads", "heads_conv"):
            for head in layer[1:]:
                names += [f"{head}.kernel", f"{head}.bias"]
    return names


def keras_params(kind: str, arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Name the flat Keras weight list (as ``model.get_weights()`` returns it)."""
    names = param_names(kind)
    if len(names) != len(arrays):
        raise ValueError(f"{kind}: expected {len(names)} arrays, got {len(arrays)}")
    return dict(zip(names, arrays, strict=True))


def to_torch_state(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keras layouts -> the torch state dict of engine.models.mtcnn (HWIO->OIHW, (in,out)->(out,in))."""
    state = {}
    for key, arr in params.items():
        layer, what = key.split(".")
        if what == "kernel":
            state[f"{layer}.weight"] = arr.transpose(3, 2, 0, 1) if arr.ndim == 4 else arr.T
        elif what == "bias":
            state[f"{layer}.bias"] = arr
        else:
            state[f"{layer}.weight"] = arr.reshape(-1)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}


def from_torch_state(kind: str, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The inverse of :func:`to_torch_state` (used by the tests to check the bundle against Keras maths)."""
    params = {}
    for key in param_names(kind):
        layer, what = key.split(".")
        if what == "kernel":
            w = state[f"{layer}.weight"]
            params[key] = w.transpose(2, 3, 1, 0) if w.ndim == 4 else w.T
        elif what == "bias":
            params[key] = state[f"{layer}.bias"]
        else:
            params[key] = state[f"{layer}.weight"]
    return params


# ---- numpy reference of the Keras layers (NHWC), deliberately naive -------------------------------------


def _conv_valid(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    kh, kw = kernel.shape[:2]
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))  # N, H', W', C, kh, kw
    return np.einsum("nhwcij,ijco->nhwo", win, kernel, optimize=True) + bias


def _pool(x: np.ndarray, k: int, s: int, same: bool) -> np.ndarray:
    if same:
        pads = []
        for size in x.shape[1:3]:
            out = -(-size // s)
            total = max((out - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        x = np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))[:, ::s, ::s]
    return win.max(axis=(-1, -2))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def keras_forward(kind: str, params: dict[str, np.ndarray], x_nhwc: np.ndarray) -> list[np.ndarray]:
    """Run network ``kind`` the way Keras does (NHWC, Permute((2,1,3)) + Flatten); outputs as Keras returns them."""
    x = x_nhwc.astype(np.float64)
    for layer in STACKS[kind]:
        op = layer[0]
        if op == "conv":
            x = _conv_valid(x, params[f"{layer[1]}.kernel"], params[f"{layer[1]}.bias"])
        elif op == "prelu":
            alpha = params[f"{layer[1]}.alpha"]
            x = np.maximum(x, 0) + alpha * np.minimum(x, 0)
        elif op in ("pool_same", "pool_valid"):
            x = _pool(x, layer[1], layer[2], op == "pool_same")
        elif op == "flatten":
            x = x.transpose(0, 2, 1, 3).reshape(x.shape[0], -1)
        elif op == "dense":
            x = x @ params[f"{layer[1]}.kernel"] + params[f"{layer[1]}.bias"]
        elif op == "heads_conv":
            outs = [_conv_valid(x, params[f"{h}.kernel"], params[f"{h}.bias"]) for h in layer[1:]]
            return [outs[0], _softmax(outs[1])]
        elif op == "heads":
            outs = [x @ params[f"{h}.kernel"] + params[f"{h}.bias"] for h in layer[1:]]
            return [*outs[:-1], _softmax(outs[-1])]
    raise AssertionError("unreachable")


# ---- conversion ------------------------------------------------------------------------------------------


def _torch_outputs(net, x_nhwc: np.ndarray) -> list[np.ndarray]:
    import torch

    with torch.no_grad():
        outs = net(torch.from_numpy(x_nhwc).permute(0, 3, 1, 2).float())
    outs = [o.numpy() for o in outs]
    if outs[0].ndim == 4:  # P-Net maps -> NHWC like Keras, probability -> (N, H, W, 2)
        p = outs[1]
        return [outs[0].transpose(0, 2, 3, 1), np.stack([1 - p, p], axis=-1)]
    p = outs[-1]
    return [*outs[:-1], np.stack([1 - p, p], axis=-1)]


def check_against_keras(kind: str, net, params: dict[str, np.ndarray], seed: int = 0) -> float:
    """Largest absolute difference between the torch network and the numpy Keras reference."""
    rng = np.random.default_rng(seed)
    size = {"pnet": (1, 37, 29, 3), "rnet": (4, 24, 24, 3), "onet": (4, 48, 48, 3)}[kind]
    x = rng.uniform(-1, 1, size).astype(np.float32)
    ref, got = keras_forward(kind, params, x), _torch_outputs(net, x)
    return max(float(np.abs(r - g).max()) for r, g in zip(ref, got, strict=True))


def main(argv: list[str] | None = None) -> int:
    import joblib  # dev-only dependency (reads the .lz4 files); never imported by the engine
    import torch

    from engine.bundle import make_manifest, save_bundle
    from engine.models.mtcnn import ONet, PNet, RNet

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--weights", default=None, help="folder with pnet/rnet/onet.lz4 (default: the installed mtcnn)")
    args = parser.parse_args(argv)
    if args.weights:
        folder = Path(args.weights)
    else:
        import importlib.util

        spec = importlib.util.find_spec("mtcnn")  # locate only; importing mtcnn would import TensorFlow
        if spec is None or not spec.submodule_search_locations:
            print("mtcnn==1.0.0 is not installed (pip install 'facet-studio[convert]')", file=sys.stderr)
            return 2
        folder = Path(next(iter(spec.submodule_search_locations))) / "assets" / "weights"

    networks = {}
    for kind, cls in (("pnet", PNet), ("rnet", RNet), ("onet", ONet)):
        params = keras_params(kind, joblib.load(folder / f"{kind}.lz4"))
        net = cls()
        net.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch_state(params).items()})
        net.eval()
        err = check_against_keras(kind, net, params)
        print(f"{kind}: max |torch - keras reference| = {err:.2e}")
        if err > 1e-4:
            raise SystemExit(f"{kind}: conversion mismatch ({err})")
        networks[kind] = net

    manifest = make_manifest(
        "mtcnn",
        48,
        [],
        networks,
        name="MTCNN face detector",
        licence="MIT (see LICENSE in this folder)",
        origin=(
            "weights of the `mtcnn` Python package v1.0.0 (https://github.com/ipazc/mtcnn, MIT licence, "
            "Copyright (c) 2019-2024 Iván de Paz Centeno), converted by tools/convert_mtcnn.py"
        ),
        normalization={"mean": [127.5 / 255] * 3, "std": [128.0 / 255] * 3},
        data="trained by the original MTCNN authors on WIDER FACE and CelebA (not redistributed here)",
    )
    path = save_bundle(args.out, networks, manifest, dtype=torch.float32)
    licence = folder.parents[2] / "mtcnn-1.0.0.dist-info" / "LICENSE"
    if licence.exists():  # the MIT notice travels with the weights
        shutil.copyfile(licence, path / "LICENSE")
    for file in path.iterdir():
        file.chmod(0o644)  # safetensors writes 0600 temp files; the bundle ships read-only to everyone
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
