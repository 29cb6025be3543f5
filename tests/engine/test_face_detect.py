"""Face detection on real fixtures: every loader path, EXIF orientations, no-face cases, several faces, big photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.errors import ImageLoadError, NoFaceError
from engine.face import Face, detect_faces, require_face
from engine.face.detect import detection_copy
from engine.images import load_image
from tests.helpers import FIXTURES, require

ASTRONAUT = FIXTURES / "exif_orientation_1.jpg"






def check_face_geometry(face: Face) -> None:
    le, re, nose, ml, mr = face.landmarks
    x0, y0, x1, y1 = face.box
    assert (face.landmarks[:, 0] > x0).all() and (face.landmarks[:, 0] < x1).all()
    assert (face.landmarks[:, 1] > y0).all() and (face.landmarks[:, 1] < y1).all()
    assert le[0] < nose[0] < re[0] and ml[0] < mr[0]
    assert max(le[1], re[1]) < nose[1] < min(ml[1], mr[1])
    assert 0.9 < face.score <= 1.0


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return load_image(require(FIXTURES / "exif_orientation_1.jpg"))


def test_astronaut_face_box_and_landmarks(astronaut):
    faces = detect_faces(astronaut)
    assert len(faces) == 1
    face = faces[0]
    check_face_geometry(face)
    # The face of the scikit-image astronaut (256 px version) is around x 90..132, y 32..86.
    assert np.allclose(face.box, (90, 32, 132, 86), atol=6)
    assert face.landmarks.shape == (5, 2) and face.landmarks.dtype == np.float64
    d = face.to_dict()
    assert set(d["landmarks"]) == {"left_eye", "right_eye", "nose", "mouth_left", "mouth_right"}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientations_all_upright_and_agree(astronaut, orientation):
    image = load_image(require(FIXTURES / f"exif_orientation_{orientation}.jpg"))
    assert image.shape == astronaut.shape
    faces = detect_faces(image)
    assert len(faces) == 1
    check_face_geometry(faces[0])
    reference = detect_faces(astronaut)[0]
    assert np.abs(faces[0].landmarks - reference.landmarks).max() < 3.0


@pytest.mark.parametrize(
    "name", ["grayscale_L.png", "grayscale_alpha_LA.png", "rgba_transparent.png", "cmyk.jpg", "sixteen_bit_I16.png",
             "palette_P.png", "webp.webp", "tiff.tif", "progressive.jpg"]
)
def test_awkward_modes_still_find_the_face(name):
    faces = detect_faces(load_image(require(FIXTURES / name)))
    assert len(faces) == 1
    check_face_geometry(faces[0])


@pytest.mark.parametrize("name", ["tiny_8x8.png", "no_face_gradient.png"])
def test_no_face_gives_empty_list_and_clear_error(name):
    image = load_image(require(FIXTURES / name))
    assert detect_faces(image) == []
    with pytest.raises(NoFaceError, match="no face found in the .* draw a box"):
        require_face(image)


def test_small_faces_are_not_reported(astronaut):
    small = np.asarray(Image.fromarray(astronaut).resize((96, 96), Image.Resampling.LANCZOS))  # face ~16 px
    assert detect_faces(small) == []


@pytest.mark.parametrize("name", ["empty.jpg", "text_named_jpg.jpg", "truncated_half.jpg", "truncated_header.png",
                                  "bomb_30000x30000.png"])
def test_corrupt_files_raise_image_load_error(name):
    with pytest.raises(ImageLoadError):
        load_image(require(FIXTURES / name))


def test_bad_arrays_are_refused():
    with pytest.raises(ValueError, match="uint8"):
        detect_faces(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        detect_faces(np.zeros((64, 64), np.uint8))


def test_several_faces_all_reported_largest_first(astronaut):
    face = astronaut[10:130, 60:170]  # 120 x 110 around the face
    small = np.asarray(Image.fromarray(face).resize((77, 84), Image.Resampling.LANCZOS))
    group = np.full((200, 400, 3), 200, np.uint8)
    group[20:140, 20:130] = face
    group[60:144, 250:327] = small
    faces = detect_faces(group)
    assert len(faces) == 2
    assert faces[0].size > faces[1].size
    assert faces[0].box[0] < 150 < faces[1].box[0]
    for f in faces:
        check_face_geometry(f)
    assert require_face(group, 1).box == faces[1].box
    with pytest.raises(NoFaceError, match="face number 5 does not exist: 2 face"):
        require_face(group, 5)


def test_big_photos_are_detected_on_a_downscaled_copy(astronaut):
    """A 4x upscaled photo detected through a 256 px copy gives the 4x coordinates."""
    big = np.asarray(Image.fromarray(astronaut).resize((1024, 1024), Image.Resampling.BICUBIC))
    small, scale = detection_copy(big, 256)
    assert small.shape == (256, 256, 3) and scale == 0.25
    faces = detect_faces(big, max_side=256)
    reference = detect_faces(astronaut)[0]
    assert len(faces) == 1
    expected = (reference.landmarks + 0.5) * 4 - 0.5
    assert np.abs(faces[0].landmarks - expected).max() < 4 * 1.5


def test_face_dict_round_trip(astronaut):
    face = detect_faces(astronaut)[0]
    back = Face.from_dict(face.to_dict())
    assert np.allclose(back.box, face.box, atol=0.01) and np.allclose(back.landmarks, face.landmarks, atol=0.01)
    assert back.score == pytest.approx(face.score, abs=1e-4) and not back.manual
