"""numpy uint8 images ↔ QImage/QPixmap (the only place pixels change representation in the app)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def to_qimage(array: np.ndarray) -> QImage:
    """uint8 (H, W, 3) RGB or (H, W, 4) RGBA → a QImage that owns its pixels."""
    arr = np.ascontiguousarray(array, dtype=np.uint8)
    h, w, c = arr.shape
    fmt = QImage.Format.Format_RGB888 if c == 3 else QImage.Format.Format_RGBA8888
    return QImage(arr.data, w, h, w * c, fmt).copy()


def to_pixmap(array: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(to_qimage(array))


def to_array(image: QImage) -> np.ndarray:
    """A QImage → uint8 (H, W, 4) RGBA (a copy)."""
    img = image.convertToFormat(QImage.Format.Format_RGBA8888)
    h, w, stride = img.height(), img.width(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), np.uint8, count=stride * h).reshape(h, stride)
    return buf[:, : w * 4].reshape(h, w, 4).copy()
