"""Worker requests behind the Edit menu's extra features: blending with another face, super-resolving a small
face, capturing a look, and exporting at another size. One ``_do_<kind>`` method per request kind, mixed
into :class:`app.worker.EngineWorker` next to :class:`app.requests.RequestHandlers` (whose helpers they use).

Their results come back as operations (``opReady``: the window pushes them as undoable edits) or as a
``replied(what, value)`` signal. Handlers run in the worker thread and raise on failure.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)
BLEND_JOB = "to blend with"  # how the title of the other face's inversion ends


class FeatureRequests:
    def _do_upscale(self, face: int, steps: int = 60, serial: int | None = None) -> None:
        """Super-resolve a small face; its :class:`~engine.ops.Upscale` operation goes to the window as an edit."""
        from engine.session_tools import upscale_face_job

        s = self._need_session()
        if serial not in (None, self.serial):
            return
        self._cancel.clear()
        op = self._job(f"Super-resolving face {self._number(face)}", upscale_face_job(s, face, steps=steps), face)
        self.opReady.emit(op, op.describe())

    def _do_blend_target(self, face: int, other: int | None = None, path: str | None = None,
                         serial: int | None = None) -> None:
        """The code of the face ``face`` is to be blended with (face ``other`` of this photo, or the photo at
        ``path``), inverted now when needed; sent as ``replied("blend_target", {...})``."""
        from engine.images import load_image
        from engine.session_tools import blend_code_job

        s = self._need_session()
        if serial not in (None, self.serial):
            return
        self._ensure_code(face)  # the face being blended starts from its own code
        image = load_image(path) if path else None
        source = Path(path).name if path else f"Face {self._number(other)}"
        self._cancel.clear()
        job = blend_code_job(s, self.preset, face=other, image=image, steps=self.steps)
        code = self._job(f"Inverting {source} {BLEND_JOB}", job)
        if other is not None:
            self._dirty.add(other)  # its inversion is kept: its strip shows it
        self.replied.emit("blend_target", {"face": face, "source": source, "serial": self.serial,
                                           "z": tuple(float(v) for v in code.z), "y": tuple(float(v) for v in code.y)})

    def _do_capture_look(self, face: int, name: str, staging: str) -> None:
        """Face ``face``'s net edit as an :class:`engine.looks.Look` called ``name``; sent as ``replied("look", look)``.

        Transfers name their exemplar files; an exemplar with no file here (one restored from a project) is
        written to ``staging`` as the aligned face the session holds."""
        from engine.images import save_image
        from engine.looks import look_from_ops

        s = self._need_session()
        files = {ref: path for (path, _mtime), ref in self._exemplar_refs.items() if Path(path).is_file()}
        for ref, image in s.exemplars.items():
            if ref not in files:
                files[ref] = str(save_image(Path(staging) / f"{ref}.png", image))
        self.replied.emit("look", look_from_ops(name, s.face_ops(face), files))

    def _do_export_scaled(self, path: str, quality: int = 92, long_side: int | None = None) -> None:
        """Export the edited photo with its long side ``long_side`` px (None: as it is) and the photo's EXIF."""
        from engine.errors import FacetError
        from engine.images import resize, save_image

        photo = self._need_session().render_photo()
        h, w = photo.shape[:2]
        if long_side is not None and long_side != max(h, w):
            if not 16 <= long_side <= 4 * max(h, w):
                raise FacetError(f"{path}: a long side of {long_side} px is not from 16 px to 4x the photo's {max(h, w)} px")
            f = long_side / max(h, w)
            photo = resize(photo, (max(1, round(w * f)), max(1, round(h * f))))
        save_image(path, photo, quality=quality, exif=self.exif)
        self.exported.emit(str(path))
