"""``facet-studio --self-test``: prove an installed copy works end to end, without showing a window.

Run by installers' users ("does it work on my machine?") and by CI on the frozen bundle, where a
missing DLL, Qt plugin or data file only shows up at run time. It loads the default models (from
``resources/models``, or from ``$FACET_MODELS_DIR``), then on the bundled public-domain sample face
runs detection, an inversion, an attribute edit and an exemplar transfer through the same
:class:`engine.session.EditSession` the app drives. One line per check; exit code 0 only when every
check passed. A missing model or engine piece is a FAIL that names it, never a silent pass.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

RESOURCES = Path(__file__).resolve().parents[1] / "resources"  # also right inside a PyInstaller bundle
SAMPLE = RESOURCES / "samples" / "astronaut.png"
EXEMPLARS = RESOURCES / "exemplars"
#: Default bundle folder names, then any folder whose manifest has that family.
FAMILIES = ("mtcnn", "cgan", "elegant")


class CheckFailed(Exception):
    """A check's expected failure: its message is the whole story (no traceback printed)."""


def models_dir() -> Path:
    """Where the default bundles are: ``$FACET_MODELS_DIR`` (tests, custom installs) or resources/models."""
    env = os.environ.get("FACET_MODELS_DIR")
    return Path(env) if env else RESOURCES / "models"


def find_bundle(root: Path, family: str) -> Path | None:
    """``root/<family>`` when it is a bundle, else the first bundle folder in ``root`` of that family."""
    from engine.bundle import MANIFEST, read_manifest
    from engine.errors import BundleError

    if (root / family / MANIFEST).exists():
        return root / family
    for sub in sorted(p for p in root.glob("*") if (p / MANIFEST).exists()) if root.is_dir() else []:
        try:
            if read_manifest(sub).get("family") == family:
                return sub
        except BundleError:
            continue
    return None


@dataclass
class SelfTest:
    """The checks in order; each records into ``state`` what later checks need."""

    root: Path
    steps: int = 10
    lines: list[str] = field(default_factory=list)
    failures: int = 0
    state: dict[str, Any] = field(default_factory=dict)

    def check(self, name: str, fn: Callable[[], str]) -> None:
        start = time.perf_counter()
        try:
            detail = fn()
            status = "PASS"
        except CheckFailed as exc:
            detail, status = str(exc), "FAIL"
        except Exception as exc:  # noqa: BLE001 - a self-test reports every failure, whatever it is
            last = traceback.extract_tb(exc.__traceback__)[-1]
            detail = f"{type(exc).__name__}: {exc} (at {Path(last.filename).name}:{last.lineno})"
            status = "FAIL"
        self.failures += status == "FAIL"
        line = f"{status} {name:<14} {detail} [{time.perf_counter() - start:.1f} s]"
        self.lines.append(line)
        print(line, flush=True)

    def need(self, key: str, what: str) -> Any:
        if key not in self.state:
            raise CheckFailed(f"not run: {what}")
        return self.state[key]

    # -- checks ------------------------------------------------------------------------------------
    def qt(self) -> str:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtGui import QGuiApplication, QImage, QImageReader
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "facet-studio"])
        formats = {bytes(f).decode() for f in QImageReader.supportedImageFormats()}
        missing = {"png", "jpeg"} - formats
        if missing:
            raise CheckFailed(f"Qt cannot read {', '.join(sorted(missing))} (image format plugins missing)")
        image = QImage(str(SAMPLE))
        if image.isNull():
            raise CheckFailed(f"Qt could not load {SAMPLE}")
        return f"{type(app).__name__} on '{QGuiApplication.platformName()}', image formats ok"

    def model(self, family: str) -> str:
        from engine.bundle import load_bundle
        from engine.device import pick_device

        path = find_bundle(self.root, family)
        if path is None:
            raise CheckFailed(
                f"missing default {family} model: no bundle of family {family!r} in {self.root} "
                f"(expected {self.root / family}/manifest.json + weights.safetensors)"
            )
        if family == "mtcnn":
            from engine.face.detect import Detector

            self.state["detector"] = Detector(path)
            return f"{path}"
        bundle = load_bundle(path, pick_device(None))
        self.state[family] = bundle
        return f"{path} ({bundle.resolution} px, {len(bundle.attributes)} attributes, {bundle.device})"

    def sample(self) -> str:
        from engine.images import load_image

        if not SAMPLE.exists():
            raise CheckFailed(f"missing sample face {SAMPLE}")
        photo = load_image(SAMPLE)
        self.state["photo"] = photo
        return f"{SAMPLE.name} {photo.shape[1]}x{photo.shape[0]}"

    def detect(self) -> str:
        from engine.face import detect_faces

        photo = self.need("photo", "no sample photo")
        faces = detect_faces(photo, detector=self.need("detector", "no face detector model"))
        if not faces:
            raise CheckFailed("no face found in the sample photo")
        return f"{len(faces)} face(s), score {faces[0].score:.3f}"

    def session(self) -> str:
        """One session on the sample (detect + align) with every model that loaded."""
        from engine.session import EditSession

        photo = self.need("photo", "no sample photo")
        cgan, elegant = self.state.get("cgan"), self.state.get("elegant")
        if cgan is None and elegant is None:
            raise CheckFailed("not run: neither a cgan nor an elegant model loaded")
        s = self.state["session"] = EditSession(photo, cgan=cgan, elegant=elegant)
        kind = "manual" if s.faces[0].manual else "detected"
        return f"{len(s.faces)} face(s), first {kind}, crops at {s.resolution} px"

    def invert(self) -> str:
        from engine.progress import drive

        self.need("cgan", "the cgan model is missing")
        s = self.need("session", "the edit session failed")
        change = drive(s.invert_face_job(0, method="balanced", steps=self.steps))
        rec = s.reconstruction(0)
        if rec is None or rec.shape != (s.resolution, s.resolution, 3):
            raise CheckFailed(f"no reconstruction of shape ({s.resolution}, {s.resolution}, 3)")
        self.state["inverted"] = True
        return f"{change.description}, {s.faces[0].method}"

    def edit(self) -> str:
        from engine.ops import SetAttribute

        self.need("inverted", "the inversion failed")
        s = self.state["session"]
        name = s.models.cgan.attributes[0]
        before = s.render_face(0).astype(np.int16)
        value = -float(np.sign(s.face_attributes(0)[name]) or 1.0)
        s.apply(SetAttribute(face=0, name=name, value=value))
        after = s.render_face(0).astype(np.int16)
        diff = float(np.abs(after - before).mean())
        if after.shape != before.shape or diff == 0.0:
            raise CheckFailed(f"setting {name} to {value:+.0f} did not change the face")
        photo = s.render_photo()
        if photo.shape != s.photo.shape:
            raise CheckFailed(f"the edited photo has shape {photo.shape}, the original {s.photo.shape}")
        return f"{name} -> {value:+.0f} changed the face by {diff:.1f} grey levels on average"

    def transfer(self) -> str:
        from engine.images import iter_image_files, load_image
        from engine.ops import TransferFromExemplar

        self.need("elegant", "the elegant model is missing")
        s = self.need("session", "the edit session failed")
        files = sorted(iter_image_files(EXEMPLARS)) if EXEMPLARS.is_dir() else []
        exemplar = load_image(files[0]) if files else np.ascontiguousarray(s.photo[:, ::-1])
        ref = s.add_exemplar(exemplar)
        attrs = (s.models.elegant.attributes[0],)
        s.apply(TransferFromExemplar(face=0, exemplar_ref=ref, attributes=attrs, strength=1.0))
        face = s.render_face(0)
        if face.shape != (s.resolution, s.resolution, 3) or face.dtype != np.uint8:
            raise CheckFailed(f"transfer gave {face.dtype} {face.shape}")
        photo = s.render_photo()
        if photo.shape != s.photo.shape:
            raise CheckFailed(f"the edited photo has shape {photo.shape}, the original {s.photo.shape}")
        source = files[0].name if files else "mirrored sample"
        return f"took {attrs[0]} from {source}"

    def run(self) -> int:
        self.check("qt", self.qt)
        for family in FAMILIES:
            self.check(f"model {family}", lambda f=family: self.model(f))
        self.check("sample", self.sample)
        self.check("detect", self.detect)
        self.check("session", self.session)
        self.check("invert", self.invert)
        self.check("edit", self.edit)
        self.check("transfer", self.transfer)
        total = len(self.lines)
        print(f"self-test: {total - self.failures}/{total} checks passed", flush=True)
        return 0 if self.failures == 0 else 1


def run(argv: list[str] | None = None) -> int:
    """Run every check; 0 when all passed, 1 otherwise.

    ``--log FILE`` also writes the lines to FILE (a windowed Windows build has no console to print to);
    ``$FACET_SELFTEST_STEPS`` sets the inversion's optimisation steps (default 10).
    """
    args = list(argv or [])
    log = Path(args[args.index("--log") + 1]) if "--log" in args[:-1] else None
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    steps = int(os.environ.get("FACET_SELFTEST_STEPS", "10"))
    print(f"Facet Studio self-test: models from {models_dir()}", flush=True)
    test = SelfTest(models_dir(), steps=steps)
    code = test.run()
    if log is not None:
        log.write_text("\n".join([*test.lines, f"exit code {code}"]) + "\n", encoding="utf-8")
    return code


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
