"""Real photos in, real photos out: detect faces (MTCNN, 5 landmarks), align them, paste edits back."""

from engine.face.align import (
    AlignedFace,
    align_face,
    align_to_celeba_canvas,
    face_from_box,
    manual_alignment,
    umeyama,
)
from engine.face.dataset import PrepareResult, prepare_dataset, prepare_dataset_job
from engine.face.detect import Detector, Face, detect_faces, get_detector, require_face
from engine.face.paste import PasteConfig, PastePlan, paste_back, paste_region, plan_paste

__all__ = [
    "AlignedFace",
    "Detector",
    "Face",
    "PasteConfig",
    "PastePlan",
    "PrepareResult",
    "align_face",
    "align_to_celeba_canvas",
    "detect_faces",
    "face_from_box",
    "get_detector",
    "manual_alignment",
    "paste_back",
    "paste_region",
    "plan_paste",
    "prepare_dataset",
    "prepare_dataset_job",
    "require_face",
    "umeyama",
]
