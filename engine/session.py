"""The edit session: a photo, its faces, their cached codes and a stack of edit operations.

An edit is data (see docs/architecture.md): the photo is never changed in pixels. Each face is
detected, aligned to the model's resolution and — once, because it is the only slow step — inverted
to a code. Edits are :mod:`engine.ops` records on one stack with a cursor (undo/redo = moving it); a
face's look is the replay of its active operations on its code (milliseconds), pasted back into the
full-resolution photo. Every mutating call returns a :class:`~engine.ops.Change` naming what to redraw.
The same object serves the app (through its worker thread), the CLI and tests; it holds no Qt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.bundle import Bundle
from engine.errors import FacetError
from engine.face.layout import convert_crop
from engine.images import resize
from engine.ops import (
    ApplyVector,
    Change,
    Complete,
    Dial,
    Interpolate,
    Op,
    ResetAttributes,
    SetAttribute,
    Stroke,
    TransferFromExemplar,
    Upscale,
    decode_png,
    encode_png,
    op_from_dict,
    pack_strokes,
    unpack_strokes,
)
from engine.progress import Job
from engine.session_check import FORMAT, FORMAT_VERSION, check_session_dict
from engine.session_faces import (
    FaceSlot,
    crop_to_photo,
    find_faces,
    manual_slot,
    paste_face,
    scaled_slot,
    view_slot,
)
from engine.session_models import (  # noqa: F401 - PRESETS and generate_exemplars are re-exported
    PRESETS,
    SessionModels,
    generate_exemplars,
    method_for_preset,
    slider_op,
)
from engine.session_view import cgan_confinement, embed_change, view_layout


@dataclass
class Inversion:
    """A finished inversion of one face, not yet its code (:meth:`EditSession.adopt_inversion`)."""

    slot: FaceSlot  # the face it was made for (the session's faces may have changed since)
    version: int  # the face's ``code_version`` when the inversion started
    method: str
    result: Any  # engine.invert.InversionResult


def _inversion(slot: FaceSlot, version: int, job: Job, method: str) -> Job[Inversion]:
    result = yield from job
    return Inversion(slot, version, method, result)


class EditSession:
    """One photo being edited. ``faces`` are detected unless given; no face → one manual centre crop.

    The session keeps ``photo`` itself, not a copy (a 50 MP photo is 150 MB): the caller hands it over and
    must not write into it afterwards. Renders it returns are copies the caller may change.
    """

    def __init__(self, photo: np.ndarray, cgan: Bundle | None = None, elegant: Bundle | None = None,
                 faces: list[FaceSlot] | None = None, detect: bool = True, keep_face: bool = True):
        photo = np.asarray(photo)
        if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
            raise FacetError(f"a photo must be RGB uint8 (H, W, 3), got {photo.dtype} {photo.shape}")
        if min(photo.shape[:2]) < 1:
            raise FacetError(f"the photo has no pixels ({photo.shape[1]} x {photo.shape[0]})")
        self.photo = photo
        self.models = SessionModels(cgan, elegant)
        self.resolution = self.models.resolution
        if faces is None:
            faces = find_faces(photo, self.resolution) if detect else []
            if not faces:
                faces = [manual_slot(photo, None, self.resolution)]
        self.faces: list[FaceSlot] = faces
        self.ops: list[Op] = []
        self.cursor = 0
        self.exemplars: dict[str, np.ndarray] = {}
        self._exemplar_codes: dict[str, Any] = {}
        self._source_codes: dict[bytes, Any] = {}  # ELEGANT codes of recent source crops: a strength drag encodes once
        self._renders: dict[int, tuple[tuple, np.ndarray]] = {}
        self._bases: dict[int, tuple[int, np.ndarray]] = {}  # face → (code_version, G(its inverted code))
        self._views: dict[int, tuple[FaceSlot, str, FaceSlot]] = {}  # face → (its slot, layout, aligned in it)
        #: cGAN edits add their change, G(edited code) − G(inverted code), to the photo's own face (True), or
        #: show the generator's face itself (False, as IcGAN does): a 64 px generator's face is not the person
        self.keep_face = bool(keep_face)
        self._small: tuple | None = None  # (size, downscaled photo, scaled slots) for preview_photo

    # -- faces and codes --------------------------------------------------------------------------
    def add_manual_face(self, box: tuple[float, float, float, float]) -> tuple[int, Change]:
        """Edit a region the detector missed: the square around ``box`` becomes a face."""
        self.faces.append(manual_slot(self.photo, box, self.resolution))  # a bad box: FacetError from engine.face
        i = len(self.faces) - 1
        self._forget_face(i)
        return i, Change(faces={i}, photo=True)

    def remove_last_face(self) -> FaceSlot:
        """Take the newest face out again (the undo of drawing its box); :meth:`restore_face` puts it back.

        Refused while an active operation edits it: undo takes those back first.
        """
        i = len(self.faces) - 1
        if i < 0 or any(op.face == i for op in self.active_ops):
            raise FacetError(f"face {i + 1} cannot be removed: it does not exist or is still edited")
        slot = self.faces.pop()
        self._forget_face(i)
        return slot

    def restore_face(self, slot: FaceSlot) -> Change:
        """Put back a face :meth:`remove_last_face` took out (its inversion kept)."""
        self.faces.append(slot)
        i = len(self.faces) - 1
        self._forget_face(i)
        return Change(faces={i}, photo=True)

    def drop_redo(self) -> None:
        """Forget the undone operations (the user took a new step, as :meth:`apply` does)."""
        del self.ops[self.cursor :]

    def _forget_face(self, i: int) -> None:
        """Cached renders of face ``i`` belong to the slot that was there before."""
        self._renders.pop(i, None)
        self._bases.pop(i, None)
        self._views.pop(i, None)
        self._small = None

    def _slot(self, i: int) -> FaceSlot:
        if not 0 <= i < len(self.faces):
            raise FacetError(f"face {i} does not exist (the photo has {len(self.faces)} face(s))")
        return self.faces[i]

    def has_code(self, i: int) -> bool:
        return self._slot(i).code is not None

    def invert_face_job(self, i: int, method: str = "balanced", steps: int | None = None, seed: int = 0) -> Job[Change]:
        """Invert face ``i`` (a preset or a method name); the code is stored only when the job completes."""
        inversion = yield from self.inversion_job(i, method, steps=steps, seed=seed)
        return self.adopt_inversion(i, inversion)

    def inversion_job(self, i: int, method: str = "balanced", steps: int | None = None, seed: int = 0) -> Job[Inversion]:
        """Invert face ``i`` without touching the session: the job reads only the face's crop and the cGAN, so it
        may run beside edits (the app refines in a thread of its own); :meth:`adopt_inversion` makes it the code.

        Checks (the face, the model, the method) are made here, when the job is created."""
        from engine.invert import invert_job

        slot, cgan = self._slot(i), self._need_cgan()
        name = method_for_preset(method, cgan)
        return _inversion(slot, slot.code_version, invert_job(slot.crop, cgan, method=name, steps=steps, seed=seed), name)

    def adopt_inversion(self, i: int, inversion: Inversion) -> Change:
        """Make a finished inversion face ``i``'s code. The edits are data, so they replay on it as they are; the
        renders cached for the old code (keyed by ``code_version``) are dropped. Refused (an empty change) when
        face ``i`` is no longer the face that was inverted, or its code changed since the inversion started."""
        slot = self._slot(i) if 0 <= i < len(self.faces) else None
        if slot is not inversion.slot or slot.code_version != inversion.version:
            return Change()
        result, name = inversion.result, inversion.method
        slot.code, slot.reconstruction, slot.method = result.code, result.reconstruction, name
        slot.tuned = result.tuned  # pivotal tuning's generator change for this face (None for other methods)
        if name == "pivotal" and result.tuned is None:
            slot.method = "hybrid"  # the tuning was stopped: the face keeps its pivot, hybrid's code
        slot.code_version += 1
        self._renders.pop(i, None)
        self._bases.pop(i, None)
        note = f": {result.note}" if result.note else ""
        # the photo shows a face's render only once it is edited: a new code changes it only then
        return Change(faces={i}, photo=bool(self.face_ops(i)), description=f"inverted face {i + 1} ({slot.method}){note}")

    def _need_cgan(self) -> Bundle:
        if self.models.cgan is None:
            raise FacetError("this needs a cGAN model bundle; none is loaded (File > Load model...)")
        return self.models.cgan

    def _need_code(self, i: int):
        slot = self._slot(i)
        if slot.code is None:
            raise FacetError(f"face {i + 1} has not been inverted yet")
        return slot

    # -- the edit stack ---------------------------------------------------------------------------
    @property
    def active_ops(self) -> list[Op]:
        return self.ops[: self.cursor]

    def face_ops(self, i: int) -> list[Op]:
        return [op for op in self.active_ops if op.face == i]

    def apply(self, op: Op) -> Change:
        """Push ``op`` (dropping the redo tail) and say which face changed."""
        self._validate(op)
        del self.ops[self.cursor :]
        self.ops.append(op)
        self.cursor += 1
        return Change(faces={op.face}, photo=True, stack=True, description=op.describe())

    def squash(self) -> Change:
        """Merge the top two operations when they share a merge key (one slider drag = one step)."""
        if self.cursor >= 2 and self.cursor == len(self.ops):
            a, b = self.ops[-2], self.ops[-1]
            if a.merge_key() is not None and a.merge_key() == b.merge_key():
                self.ops[-2:] = [b]
                self.cursor -= 1
                return Change(faces={b.face}, stack=True, description=b.describe())
        return Change()

    def undo(self) -> Change:
        if self.cursor == 0:
            return Change()
        self.cursor -= 1
        op = self.ops[self.cursor]
        return Change(faces={op.face}, photo=True, stack=True, description=op.describe())

    def redo(self) -> Change:
        if self.cursor >= len(self.ops):
            return Change()
        op = self.ops[self.cursor]
        self.cursor += 1
        return Change(faces={op.face}, photo=True, stack=True, description=op.describe())

    def _validate(self, op: Op) -> None:
        """Refuse an operation replay could not perform (the stack is never left holding one)."""
        from engine.invert.core import check_code
        from engine.transfer import check_dial, check_request, prototypes

        self._slot(op.face)
        number = op.strength if isinstance(op, ApplyVector) else getattr(op, "value", 0.0)
        if not np.isfinite(number):
            raise FacetError(f"{op.describe()}: {number!r} is not a finite number")
        if isinstance(op, ResetAttributes) and self.models.cgan is None:
            self._check_names(self._need_elegant(), op.names)
        elif isinstance(op, SetAttribute | ApplyVector | ResetAttributes):
            cgan = self._need_cgan()
            self._need_code(op.face)
            self._check_names(cgan, op.names if isinstance(op, ResetAttributes) else (op.name,))
        if isinstance(op, Dial):
            check_dial(self._need_elegant())  # a model that takes an exemplar's pixels has no dial
            prototypes(self.models.elegant)  # a clear BundleError when the bundle has none
            check_request(self.models.elegant, (op.name,), op.value)
        if isinstance(op, TransferFromExemplar):
            if not op.attributes:
                raise FacetError("a transfer needs at least one attribute")
            check_request(self._need_elegant(), op.attributes, op.strength)
            if op.exemplar_ref not in self.exemplars:
                raise FacetError(f"exemplar {op.exemplar_ref!r} is not in this session")
        if isinstance(op, Stroke):
            check_code(self._need_cgan(), op.z, op.y, "brush strokes")
        if isinstance(op, Complete):
            self._need_cgan()
        if isinstance(op, Interpolate):
            if not (np.isfinite(op.t) and 0.0 <= op.t <= 1.0):
                raise FacetError(f"{op.describe()}: the blend must be from 0 to 1, got {op.t!r}")
            self._need_code(op.face)
            check_code(self._need_cgan(), op.z, op.y, "the face to blend with")
        if isinstance(op, Upscale):
            result = decode_png(op.result)  # an ImageLoadError (a FacetError) when it is not a PNG
            if result.ndim != 3 or result.shape[2] != 3 or result.shape[0] != result.shape[1]:
                raise FacetError(f"{op.describe()}: the stored face is not a square RGB image")
        if isinstance(op, ApplyVector):
            from engine.edit.latent import attribute_vector

            attribute_vector(self.models.cgan, op.name)  # a bundle without vectors: refused here, not when drawn

    @staticmethod
    def _check_names(bundle: Bundle, names: Iterable[str]) -> None:
        unknown = [n for n in names if n not in bundle.attributes]
        if unknown:
            raise FacetError(f"{bundle.name} has no attribute {', '.join(unknown)}")

    def _need_elegant(self) -> Bundle:
        if self.models.elegant is None:
            raise FacetError("exemplar transfer and dials need an ELEGANT model bundle; none is loaded")
        return self.models.elegant

    # -- replay ------------------------------------------------------------------------------------
    def face_code(self, i: int):
        """Face ``i``'s code after its active code operations (None before inversion)."""
        from engine import edit
        from engine.invert import LatentCode

        slot = self._slot(i)
        if slot.code is None:
            return None
        code = slot.code.copy()
        for op in self.face_ops(i):
            if isinstance(op, SetAttribute):
                code = edit.set_attributes(code, self.models.cgan, {op.name: op.value})
            elif isinstance(op, ApplyVector):
                code = edit.apply_vector(code, self.models.cgan, op.name, op.strength)
            elif isinstance(op, ResetAttributes):
                if not op.names:
                    code = slot.code.copy()
                else:
                    code = code.copy()
                    for n in op.names:
                        k = self.models.cgan.attributes.index(n)
                        code.y[k] = slot.code.y[k]
            elif isinstance(op, Stroke):
                code = LatentCode(np.asarray(op.z, np.float32), np.asarray(op.y, np.float32))
            elif isinstance(op, Interpolate):
                other = LatentCode(np.asarray(op.z, np.float32), np.asarray(op.y, np.float32))
                code = edit.interpolate(code, other, op.t)
        return code

    def face_dials(self, i: int) -> dict[str, float]:
        """Face ``i``'s ELEGANT dial settings (name → value; absent = 0) after its active operations."""
        settings: dict[str, float] = {}
        for op in self.face_ops(i):
            if isinstance(op, Dial):
                settings[op.name] = op.value
            elif isinstance(op, ResetAttributes):
                for n in op.names or list(settings):
                    settings.pop(n, None)
        return {n: v for n, v in settings.items() if v != 0.0}

    def face_attributes(self, i: int) -> dict[str, float | None] | None:
        """Current slider values, each from the model its slider edits (:meth:`SessionModels.slider_routes`):
        the cGAN's y, or None while the face waits for its inversion; the ELEGANT dial (no inversion needed).
        None when no model edits anything."""
        routes = self.models.slider_routes()
        if not routes:
            return None
        code = self.face_code(i) if "cgan" in routes.values() else None
        y = dict(zip(self.models.cgan.attributes, code.y, strict=True)) if code is not None else {}
        dials = self.face_dials(i)
        return {n: (float(y[n]) if n in y else None) if model == "cgan" else dials.get(n, 0.0)
                for n, model in routes.items()}

    def slider_op(self, i: int, name: str, value: float, gesture: int = 0) -> Op:
        """The operation a slider move makes: a cGAN attribute or an ELEGANT dial, whichever edits ``name``."""
        return slider_op(self.models.slider_routes(), i, name, value, gesture)

    def render_face(self, i: int) -> np.ndarray:
        """Face ``i`` as edited, at the session resolution (the fast path: replay + one generator pass)."""
        slot = self._slot(i)
        ops = self.face_ops(i)
        key = (slot.code_version, self.keep_face, *ops)
        cached = self._renders.get(i)
        if cached is not None and cached[0] == key:
            return cached[1].copy()  # a copy: the cache (or the face's own crop) must not be written into
        face = self._face_stage(i, ops)
        layout = self.view_layout
        image = face if layout == "face" else self._view_image(i, face)
        dials = self.face_dials(i)
        if dials:
            from engine import transfer

            image = self._fit(transfer.dial(self.models.elegant, image, dials))
        for op in ops:
            if isinstance(op, TransferFromExemplar) and op.strength != 0:  # strength 0 is the identity, exactly
                image = self._transfer(image, op)
            elif isinstance(op, Complete) and layout == "face":
                image = self._complete(image, op)
        self._renders[i] = (key, image)
        return image.copy()

    @property
    def view_layout(self) -> str:
        """The crop layout renders are in (``head`` with a masked ELEGANT model: :mod:`engine.session_view`)."""
        return view_layout(self.models.elegant)

    def _face_stage(self, i: int, ops: list[Op]) -> np.ndarray:
        """Face ``i``'s ``face``-layout crop after its cGAN edits (codes, and completions when renders are in
        another layout), each cGAN change confined to where its attributes live."""
        slot = self._slot(i)
        image = base = self._upscaled(i, ops)
        if slot.code is not None and self.models.cgan is not None and any(op.stage == "code" for op in ops):
            from engine import edit

            image = self._fit(self._render_code(i, self.face_code(i)))
            if self.keep_face:
                image = edit.add_change(base, self._base_render(i), image)
                image = embed_change(base, base, image, "face", self._confinement(ops))
            image = self._paint_strokes(image, ops)
        if self.view_layout != "face":
            for op in ops:
                if isinstance(op, Complete):
                    image = self._complete(image, op)
        return image

    def _upscaled(self, i: int, ops: list[Op]) -> np.ndarray:
        """Face ``i``'s crop, or after an active :class:`Upscale` the super-resolved face inside its oval (the
        crop's own pixels around it): the pixels every later edit adds its change to."""
        crop = self._slot(i).crop
        done = [op for op in ops if isinstance(op, Upscale)]
        if not done:
            return crop
        weight = cgan_confinement((), self.resolution, True)[..., None]
        sharp = self._fit(decode_png(done[-1].result)).astype(np.float32)
        return np.clip(crop * (1 - weight) + sharp * weight + 0.5, 0, 255).astype(np.uint8)

    @staticmethod
    def _edited_names(ops: list[Op]) -> list[str]:
        return [n for op in ops for n in (op.names if isinstance(op, ResetAttributes)
                                          else (op.name,) if isinstance(op, SetAttribute | ApplyVector) else ())]

    # -- strokes and completion: changes that stay where the user painted -----------------------------
    def _strokes(self, ops: list[Op]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(mask, colours) at the session resolution of the active strokes since the last reset of everything."""
        out = []
        for op in ops:
            if isinstance(op, ResetAttributes) and not op.names:
                out = []
            elif isinstance(op, Stroke):
                mask, colors = unpack_strokes(op.strokes)
                out.append((np.asarray(resize((mask * 255).astype(np.uint8), (self.resolution,) * 2)) > 127,
                            self._fit(colors)))
        return out

    def _confinement(self, ops: list[Op]) -> np.ndarray:
        """Where a cGAN change may reach the face: the edited attributes' regions and the strokes' reach."""
        from engine.edit.constrained import stroke_reach

        blended = any(isinstance(op, Interpolate) for op in ops)  # another face: the whole face may change
        weight = cgan_confinement(self._edited_names(ops), self.resolution, blended)
        for mask, _ in self._strokes(ops):
            weight = np.maximum(weight, stroke_reach(mask))
        return weight

    def _paint_strokes(self, image: np.ndarray, ops: list[Op]) -> np.ndarray:
        """The strokes' colour layers over the generator's change: the stroked pixels take their colour."""
        from engine.edit.constrained import paint_strokes

        for mask, colors in self._strokes(ops):
            image = paint_strokes(image, mask, colors)
        return image

    def _complete(self, image: np.ndarray, op: Complete) -> np.ndarray:
        """``image`` with a stored completion's pixels inside its mask (outside it: untouched, bit for bit)."""
        from engine.edit.constrained import blend_completion

        return blend_completion(image, self._fit(decode_png(op.result)), decode_png(op.mask))

    def view_slot(self, i: int) -> FaceSlot:
        """Face ``i`` aligned in the view layout (the slot itself in the ``face`` layout), cached per slot."""
        slot = self._slot(i)
        layout = self.view_layout
        if layout == "face":
            return slot
        cached = self._views.get(i)
        if cached is None or cached[0] is not slot or cached[1] != layout:
            cached = self._views[i] = (slot, layout, view_slot(self.photo, slot, self.resolution, layout))
        return cached[2]

    def _view_image(self, i: int, face: np.ndarray) -> np.ndarray:
        """The view crop with the face stage's change (``face`` − the face crop) added where the face lies."""
        slot, view = self._slot(i), self.view_slot(i).crop
        if face is slot.crop:
            return view
        return embed_change(view, slot.crop, face, self.view_layout)

    def _base_render(self, i: int) -> np.ndarray:
        """G(face ``i``'s inverted code) at the session resolution: what an edit's change is measured from.

        Rendered exactly as the edits are (not ``slot.reconstruction``, which comes from the optimiser's own
        batch), so a code operation that changes nothing leaves the crop bit for bit; cached per inversion."""
        slot = self._slot(i)
        cached = self._bases.get(i)
        if cached is None or cached[0] != slot.code_version:
            cached = self._bases[i] = (slot.code_version, self._fit(self._render_code(i, slot.code)))
        return cached[1]

    # -- pivotal tuning: a face's own generator ------------------------------------------------------
    def _render_code(self, i: int, code) -> np.ndarray:
        """G(code) at the model's resolution, through face ``i``'s tuned generator when it has one."""
        from engine import edit
        from engine.invert.pivotal import render

        tuned = self._slot(i).tuned
        return edit.render(self.models.cgan, code) if tuned is None else render(self.models.cgan, code, tuned)

    def set_keep_face(self, keep: bool) -> Change:
        """Show cGAN edits as a change to the photo's own face (True) or as the generator's face (False)."""
        self.keep_face = bool(keep)
        edited = {i for i in self.edited_faces() if any(op.stage == "code" for op in self.face_ops(i))}
        return Change(faces=edited, photo=bool(edited))

    def reconstruction(self, i: int) -> np.ndarray | None:
        slot = self._slot(i)
        return None if slot.reconstruction is None else self._fit(slot.reconstruction)

    def _fit(self, image: np.ndarray) -> np.ndarray:
        r = self.resolution
        return image if image.shape[:2] == (r, r) else np.array(resize(image, (r, r)))  # writable copy

    def _transfer(self, image: np.ndarray, op: TransferFromExemplar) -> np.ndarray:
        from engine import transfer

        bundle = self._need_elegant()
        code = self._exemplar_codes.get(op.exemplar_ref)
        if code is None:
            code = self._exemplar_codes[op.exemplar_ref] = transfer.encode(bundle, self.exemplars[op.exemplar_ref])
        key = hashlib.blake2b(image.tobytes(), digest_size=16).digest()
        source = self._source_codes.get(key)
        if source is None:
            if len(self._source_codes) >= 8:
                self._source_codes.pop(next(iter(self._source_codes)))
            source = self._source_codes[key] = transfer.encode(bundle, image)
        out = transfer.transfer_codes(bundle, source, code, list(op.attributes), op.strength)
        return self._fit(out)

    def edited_faces(self) -> list[int]:
        return sorted({op.face for op in self.active_ops})

    def render_photo(self, faces: Iterable[int] | None = None, overrides: dict[int, np.ndarray] | None = None) -> np.ndarray:
        """The full-resolution photo with every edited face pasted back (unedited pixels untouched).

        ``overrides`` pastes given crops instead of a face's render (streaming previews of long jobs).
        """
        overrides = overrides or {}
        chosen = set(self.edited_faces() if faces is None else faces) | set(overrides)
        out = self.photo
        mode = self._paste_mode()
        for i in sorted(chosen):
            crop = self._override(i, overrides[i]) if i in overrides else self.render_face(i)
            out = paste_face(out, crop, self.view_slot(i), mode=mode)
        return out.copy() if out is self.photo else out

    def _paste_mode(self) -> str:
        """Renders that are the face's own crop plus local changes are added to the photo as those changes, so
        every pixel they leave alone keeps its bytes: a view crop (masked edits) and, with the face kept, the
        classic face crop (cGAN and ELEGANT changes confined to their attributes' regions or the face's oval).
        The generator's own face (face not kept) is blended into the face's ellipse, colour-matched."""
        return "change" if self.keep_face or self.view_layout != "face" else "blend"

    def _override(self, i: int, crop: np.ndarray) -> np.ndarray:
        """A streamed ``face``-layout preview (an inversion's) as a view crop."""
        crop = self._fit(crop)
        return crop if self.view_layout == "face" else self._view_image(i, crop)

    def preview_photo(self, max_side: int = 1280, overrides: dict[int, np.ndarray] | None = None) -> np.ndarray:
        """A quick render for feedback while dragging: pasted into a copy whose long side is <= ``max_side``.

        A 12 MP photo costs about as much as a 1 MP one; release renders the full resolution.
        """
        h, w = self.photo.shape[:2]
        if max(h, w) <= max_side:
            return self.render_photo(overrides=overrides)
        f = max_side / max(h, w)
        size = (max(1, round(w * f)), max(1, round(h * f)))
        if self._small is None or self._small[0] != size:
            self._small = (size, np.array(resize(self.photo, size)), {})
        _, small, slots = self._small
        overrides = overrides or {}
        out = small
        mode = self._paste_mode()
        for i in sorted(set(self.edited_faces()) | set(overrides)):
            if slots.get(i, (None,))[0] is not self.view_slot(i):
                slots[i] = (self.view_slot(i), scaled_slot(self.view_slot(i), w / size[0], h / size[1]))
            crop = self._override(i, overrides[i]) if i in overrides else self.render_face(i)
            out = paste_face(out, crop, slots[i][1], fast=True, mode=mode)
        return out.copy() if out is small else out

    # -- long constrained edits (their results become operations) -----------------------------------
    def strokes_from_photo(self, i: int, rgba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Strokes painted on the photo (uint8 RGBA, photo size) → (mask, colours) in face ``i``'s crop."""
        crop = crop_to_photo(rgba, self._slot(i), self.resolution)
        return (crop[..., 3] > 127).astype(np.float32), np.ascontiguousarray(crop[..., :3])

    def stroke_job(self, i: int, mask: np.ndarray, colors: np.ndarray, **options: Any) -> Job[Stroke]:
        """Optimise face ``i``'s code to follow colour strokes; returns the :class:`Stroke` op (not applied)."""
        from engine import edit

        self._need_code(i)
        options.setdefault("tuned", self._slot(i).tuned)  # through the face's tuned generator (pivotal tuning)
        result = yield from edit.stroke_edit_job(self._need_cgan(), self.face_code(i), mask, colors, **options)
        code = getattr(result, "code", result)
        return Stroke(face=i, strokes=pack_strokes(mask, colors), z=tuple(float(v) for v in code.z),
                      y=tuple(float(v) for v in code.y))

    def stroke_preview(self, i: int, mask: np.ndarray, colors: np.ndarray) -> np.ndarray:
        """The strokes' colour layer over face ``i`` as it looks now (``face`` layout, milliseconds): what the brush
        shows at once, before :meth:`stroke_job` has moved the code (most of a stroke's look is this layer)."""
        from engine.edit.constrained import paint_strokes

        return paint_strokes(self._face_stage(i, self.face_ops(i)), mask, colors)

    def complete_preview(self, i: int, mask: np.ndarray) -> np.ndarray:
        """A first fill of face ``i``'s masked part from the encoder's guess alone (no optimisation, milliseconds):
        what completion shows at once, before :meth:`complete_job` has refined it."""
        from engine import edit
        from engine.progress import drive

        result = drive(edit.complete_job(self._need_cgan(), self._completion_source(i), mask, steps=0))
        return self._fit(np.asarray(result.reconstruction, np.uint8))

    def _completion_source(self, i: int) -> np.ndarray:
        """Face ``i``'s current look in the ``face`` layout: what completion fills a hole of."""
        return self.render_face(i) if self.view_layout == "face" else self._face_stage(i, self.face_ops(i))

    def complete_job(self, i: int, mask: np.ndarray, **options: Any) -> Job[Complete]:
        """Fill the masked part of face ``i`` (current look) with the cGAN; returns the :class:`Complete` op."""
        from engine import edit

        image = self._completion_source(i)
        result = yield from edit.complete_job(self._need_cgan(), image, mask, **options)
        done = result if isinstance(result, np.ndarray) else getattr(result, "image", None)
        if done is None:
            done = result.reconstruction
        m = (np.asarray(mask, np.float32) > 0.5).astype(np.uint8) * 255
        return Complete(face=i, mask=encode_png(m), result=encode_png(self._fit(np.asarray(done, np.uint8))))

    # -- exemplars -----------------------------------------------------------------------------------
    def add_exemplar(self, image: np.ndarray, align: bool = True) -> str:
        """Keep an exemplar face (aligned like the faces) under a content hash; returns its reference."""
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
            raise FacetError(f"an exemplar must be an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")
        layout = self.view_layout
        if align:
            found = find_faces(image, self.resolution, layout)
            image = found[0].crop if found else manual_slot(image, None, self.resolution).crop
        elif layout != "face":  # a face crop (the gallery's, the CLI's) re-cut to the whole head
            image = convert_crop(self._fit(image), "face", layout, self.resolution)
        image = self._fit(image)
        ref = hashlib.sha1(image.tobytes()).hexdigest()[:16]
        self.exemplars.setdefault(ref, image)
        return ref

    # -- persistence ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything needed to restore this exact state: JSON-able values plus numpy arrays."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "resolution": self.resolution,
            "models": self.models.describe(),
            "photo": self.photo,
            "faces": [f.to_dict() for f in self.faces],
            "ops": [op.to_dict() for op in self.ops],
            "cursor": self.cursor,
            "exemplars": dict(self.exemplars),
            "exemplar_layout": self.view_layout,
            "keep_face": self.keep_face,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], cgan: Bundle | None = None, elegant: Bundle | None = None) -> EditSession:
        """Rebuild a session from :meth:`to_dict` data (a project file's); every field is checked first
        (:func:`engine.session_check.check_session_dict`), so damage is named, never a crash later."""
        from engine.invert.core import check_code

        check_session_dict(data)
        try:
            faces = [FaceSlot.from_dict(f) for f in data["faces"]]
            ops = [op_from_dict(o) for o in data["ops"]]
            cursor, resolution = int(data["cursor"]), int(data["resolution"])
            exemplars = {k: np.asarray(v, np.uint8) for k, v in data.get("exemplars", {}).items()}
            photo = np.asarray(data["photo"], np.uint8)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FacetError(f"corrupt session: a field is missing or malformed ({type(exc).__name__}: {exc})") from None
        session = cls(photo, cgan, elegant, faces=faces, keep_face=bool(data.get("keep_face", True)))
        if session.resolution != resolution:
            raise FacetError(
                f"this project was made at {resolution} px, the loaded model works at {session.resolution} px; "
                "load the project's model (see File > Load model...)"
            )
        stored_layout = data.get("exemplar_layout", "face")  # projects from before layouts: face crops
        if stored_layout != session.view_layout:  # made with another ELEGANT model: re-cut to this one's layout
            exemplars = {k: convert_crop(v, stored_layout, session.view_layout, session.resolution)
                         for k, v in exemplars.items()}
        session.ops, session.cursor, session.exemplars = ops, cursor, exemplars
        if not 0 <= session.cursor <= len(session.ops):
            raise FacetError(f"corrupt session: cursor {session.cursor} outside the {len(session.ops)} operations")
        for i, face in enumerate(faces):
            if face.code is not None and cgan is not None:
                check_code(cgan, face.code.z, face.code.y, f"face {i + 1}")
            if face.tuned is not None and cgan is not None:
                from engine.invert.pivotal import check_tuned

                check_tuned(cgan, face.tuned, f"face {i + 1}")
        for op in ops:  # every edit must replay with the loaded models: none may vanish silently
            session._check_stored(op)
        return session

    def _check_stored(self, op: Op) -> None:
        """A stored operation replays with these models, or the project is refused saying what it needs."""
        try:
            self._validate(op)
        except FacetError as exc:
            if (isinstance(op, SetAttribute | ApplyVector | ResetAttributes) and self.models.cgan is not None
                    and 0 <= op.face < len(self.faces) and self.faces[op.face].code is None):
                return  # its face's code is recomputed on demand (the worker inverts before replaying)
            raise FacetError(f"the edit “{op.describe()}” cannot be replayed: {exc}") from None
