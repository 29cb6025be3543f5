"""Face detection with 5 landmarks: the three-stage MTCNN cascade, offline, from a safetensors bundle.

P-Net scans an image pyramid for 12x12 face windows, R-Net re-scores 24x24 crops of the survivors and
O-Net refines 48x48 crops and places the landmarks. The box bookkeeping follows the ``mtcnn`` v1.0.0
package whose weights we use, so its trained conventions (1-based cell corners, corner-aligned crops)
hold. Large photos are detected on a copy whose long side is at most ``max_side`` and the results are
scaled back, so a 50 MP photo costs about as much as a 1.5 MP one.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from engine.errors import NoFaceError

#: The converted bundle shipped with the application (see tools/convert_mtcnn.py).
DEFAULT_BUNDLE = Path(__file__).resolve().parents[2] / "resources" / "models" / "mtcnn"
MIN_FACE = 40.0
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass(eq=False)  # identity semantics: landmarks are an array
class Face:
    """One detected (or hand-placed) face in photo pixels; "left" means left in the image."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    landmarks: np.ndarray  # (5, 2) float: left eye, right eye, nose, left mouth corner, right mouth corner
    score: float
    manual: bool = False  # placed from a user's box, landmarks estimated

    @property
    def size(self) -> float:
        """Side of the box's equal-area square (pixels)."""
        x0, y0, x1, y1 = self.box
        return float(np.sqrt(max(x1 - x0, 0.0) * max(y1 - y0, 0.0)))

    def to_dict(self) -> dict:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "landmarks": {n: [round(float(x), 2), round(float(y), 2)] for n, (x, y) in zip(LANDMARK_NAMES, self.landmarks, strict=True)},
            "score": round(float(self.score), 4),
            "manual": self.manual,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Face:
        """Inverse of :meth:`to_dict` (project files, sessions)."""
        lm = d["landmarks"]
        points = [lm[n] for n in LANDMARK_NAMES] if isinstance(lm, dict) else lm
        return cls(box=tuple(float(v) for v in d["box"]), landmarks=np.asarray(points, np.float64).reshape(5, 2),
                   score=float(d.get("score", 0.0)), manual=bool(d.get("manual", False)))


@dataclass
class DetectorConfig:
    """Cascade settings (defaults of the original MTCNN)."""

    scale_factor: float = 0.709
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.8)
    nms: tuple[float, float, float, float] = (0.5, 0.7, 0.7, 0.7)  # P-Net per scale, P-Net all, R-Net, O-Net
    max_proposals: int = 2000  # cap on R-Net input (keeps pathological textures bounded)


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, best first."""
    x0, y0, x1, y1 = boxes.T
    area = np.maximum(x1 - x0, 0) * np.maximum(y1 - y0, 0)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]))
        h = np.maximum(0.0, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]))
        inter = w * h
        denom = np.minimum(area[i], area[rest]) if method == "min" else area[i] + area[rest] - inter
        overlap = inter / np.maximum(denom, 1e-9)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    """Grow boxes to squares around their centres."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out = boxes.copy()
    out[:, 0] = boxes[:, 0] + w / 2 - side / 2
    out[:, 1] = boxes[:, 1] + h / 2 - side / 2
    out[:, 2:4] = out[:, 0:2] + side[:, None]
    return out


def _calibrate(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    return boxes + offsets * np.stack([w, h, w, h], axis=1)


def _crops(image: torch.Tensor, boxes: np.ndarray, size: int) -> torch.Tensor:
    """Batched bilinear crops (N, 3, size, size) like tf.image.crop_and_resize (corner-aligned, 0 outside)."""
    _, _, H, W = image.shape
    b = torch.from_numpy(boxes.astype(np.float32))
    t = torch.linspace(0, 1, size)
    # crop_and_resize samples at box/dim * (dim - 1): reproduce that exactly.
    xs = (b[:, 0:1] + (b[:, 2:3] - b[:, 0:1]) * t) * (W - 1) / W
    ys = (b[:, 1:2] + (b[:, 3:4] - b[:, 1:2]) * t) * (H - 1) / H
    gx = xs / max(W - 1, 1) * 2 - 1  # align_corners=True normalisation
    gy = ys / max(H - 1, 1) * 2 - 1
    n = len(boxes)
    grid = torch.stack([gx[:, None, :].expand(n, size, size), gy[:, :, None].expand(n, size, size)], dim=-1)
    grid = grid.reshape(1, n * size, size, 2).to(image.device)
    out = F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out.reshape(3, n, size, size).permute(1, 0, 2, 3).contiguous()


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    arr = np.ascontiguousarray(image) if image.flags.writeable else np.array(image)
    return (torch.from_numpy(arr).permute(2, 0, 1)[None].float() - 127.5) / 128.0


class Detector:
    """The MTCNN cascade around a loaded bundle (networks in eval mode, CPU or GPU)."""

    def __init__(self, bundle_path: str | os.PathLike = DEFAULT_BUNDLE, device: str | torch.device = "cpu",
                 config: DetectorConfig | None = None):
        from engine.bundle import load_bundle

        self.bundle = load_bundle(bundle_path, device)
        self.pnet, self.rnet, self.onet = (self.bundle.network(n) for n in ("pnet", "rnet", "onet"))
        self.device = torch.device(device)
        self.config = config or DetectorConfig()

    def _pnet(self, image: np.ndarray, min_face: float) -> np.ndarray:
        cfg = self.config
        h, w = image.shape[:2]
        scale = 12.0 / min_face
        found = []
        pil = Image.fromarray(image)
        while min(h, w) * scale >= 12:
            sw, sh = max(1, int(np.ceil(w * scale))), max(1, int(np.ceil(h * scale)))
            scaled = np.asarray(pil.resize((sw, sh), Image.Resampling.BOX))
            reg, prob = self.pnet(_to_tensor(scaled).to(self.device))
            prob, reg = prob[0].cpu().numpy(), reg[0].cpu().numpy()
            ys, xs = np.nonzero(prob > cfg.thresholds[0])
            if len(ys):
                sx, sy = sw / w, sh / h  # the exact scale of this level
                x0, y0 = 2 * xs + 1.0, 2 * ys + 1.0
                x1, y1 = 2 * xs + 12.0, 2 * ys + 12.0
                r = reg[:, ys, xs]
                boxes = np.stack([(x0 + r[0] * 11) / sx, (y0 + r[1] * 11) / sy, (x1 + r[2] * 11) / sx, (y1 + r[3] * 11) / sy], 1)
                scores = prob[ys, xs]
                keep = _nms(boxes, scores, cfg.nms[0])
                found.append(np.column_stack([boxes[keep], scores[keep]]))
            scale *= cfg.scale_factor
        if not found:
            return np.empty((0, 5))
        cand = np.concatenate(found)
        cand = cand[_nms(cand[:, :4], cand[:, 4], cfg.nms[1])][: cfg.max_proposals]
        cand[:, :4] = _square(cand[:, :4])
        return cand

    @torch.inference_mode()
    def detect(self, image: np.ndarray, min_face: float = 40.0) -> tuple[np.ndarray, np.ndarray]:
        """Boxes+scores (N, 5) and landmarks (N, 5, 2) in ``image`` pixels, best score first."""
        cfg = self.config
        empty = (np.empty((0, 5)), np.empty((0, 5, 2)))
        if min(image.shape[:2]) < 12:
            return empty
        cand = self._pnet(image, max(float(min_face), 12.0))
        if not len(cand):
            return empty
        full = _to_tensor(image).to(self.device)
        reg, prob = self.rnet(_crops(full, cand[:, :4], 24).to(self.device))
        prob, reg = prob.cpu().numpy(), reg.cpu().numpy()
        ok = prob > cfg.thresholds[1]
        if not ok.any():
            return empty
        boxes = _calibrate(cand[ok, :4], reg[ok])
        scores = prob[ok]
        keep = _nms(boxes, scores, cfg.nms[2])
        boxes = _square(boxes[keep])
        reg, marks, prob = self.onet(_crops(full, boxes, 48).to(self.device))
        reg, marks, prob = reg.cpu().numpy(), marks.cpu().numpy(), prob.cpu().numpy()
        w = boxes[:, 2:3] - boxes[:, 0:1] + 1
        h = boxes[:, 3:4] - boxes[:, 1:2] + 1
        # mtcnn v1.0.0 also subtracts 1 here (a MATLAB 1-based leftover); against reference landmarks that
        # biases every point by about -1 px in x and y, so we do not.
        lm = np.stack([w * marks[:, :5] + boxes[:, 0:1], h * marks[:, 5:] + boxes[:, 1:2]], axis=-1)
        ok = prob > cfg.thresholds[2]
        boxes, lm, scores = _calibrate(boxes[ok], reg[ok]), lm[ok], prob[ok]
        keep = _nms(boxes, scores, cfg.nms[3], method="min")
        return np.column_stack([boxes[keep], scores[keep]]), lm[keep]


_DETECTORS: dict[tuple[str, str], Detector] = {}
_LOCK = threading.Lock()


def get_detector(bundle_path: str | os.PathLike = DEFAULT_BUNDLE, device: str = "cpu") -> Detector:
    """A cached detector per (bundle, device): loading takes ~50 ms, detection should not pay it twice."""
    key = (str(Path(bundle_path).resolve()), str(device))
    with _LOCK:
        if key not in _DETECTORS:
            _DETECTORS[key] = Detector(bundle_path, device)
        return _DETECTORS[key]


def detection_copy(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """The image downscaled so its long side is at most ``max_side`` (area filter), and the scale used."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    pil = Image.fromarray(image)
    return np.asarray(pil.resize(size, Image.Resampling.BOX, reducing_gap=3.0)), size[0] / w


def default_min_face(shape: tuple[int, ...]) -> float:
    """40 px, or 2% of the long side on big photos: smaller faces are too small to edit, and searching
    for them dominates the detection time (P-Net's cost grows with (1 / min_face)^2)."""
    return max(MIN_FACE, 0.02 * max(shape[:2]))


def detect_faces(image: np.ndarray, min_face: float | None = None, max_side: int = 1280,
                 detector: Detector | None = None) -> list[Face]:
    """Every face in an RGB uint8 photo, largest first; an empty list when there is none.

    ``min_face`` is the smallest face side to look for, in photo pixels (default :func:`default_min_face`;
    never below what the detection copy resolves: 12 of its pixels). Photos with a long side above
    ``max_side`` are detected on a downscaled copy; boxes and landmarks come back in the photo's pixels.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"detect_faces expects an RGB uint8 array (H, W, 3), got {image.dtype} {image.shape}")
    if min_face is None:
        min_face = default_min_face(image.shape)
    small, scale = detection_copy(image, max_side)
    det = detector or get_detector()
    boxes, marks = det.detect(small, min_face * scale)
    faces = []
    for b, lm in zip(boxes, marks, strict=True):
        # Detection-copy pixel centres -> photo pixel centres.
        to_photo = lambda v: (v + 0.5) / scale - 0.5  # noqa: E731
        faces.append(Face(box=tuple(float(v) for v in to_photo(b[:4])), landmarks=to_photo(lm).astype(np.float64), score=float(b[4])))
    faces.sort(key=lambda f: (-f.size, -f.score))
    return faces


def require_face(image: np.ndarray, index: int = 0, **kwargs) -> Face:
    """Face number ``index`` (largest first) or :class:`NoFaceError` saying what to do instead."""
    faces = detect_faces(image, **kwargs)
    h, w = image.shape[:2]
    if not faces:
        raise NoFaceError(
            f"no face found in the {w} x {h} photo (faces smaller than "
            f"{kwargs.get('min_face') or default_min_face(image.shape):.0f} px, strongly "
            "turned or covered are missed); draw a box around the face to place it by hand"
        )
    if not 0 <= index < len(faces):
        raise NoFaceError(f"face number {index} does not exist: {len(faces)} face(s) found (numbered from 0)")
    return faces[index]


def require_room_for_a_face(shape: tuple[int, ...]) -> None:
    """:class:`NoFaceError` for an image too small to hold a face, even one placed by hand (a box of at least
    ``align.MIN_BOX`` pixels): a 1 x 1 or 1-pixel-wide photo has no face, which is what the user must hear."""
    from engine.face.align import MIN_BOX

    h, w = shape[:2]
    if min(h, w) < MIN_BOX:
        raise NoFaceError(f"no face found in the {w} x {h} image: it is too small to hold one")
