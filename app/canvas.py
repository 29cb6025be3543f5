"""The central canvas: the photo (before / after / split view), face boxes, zoom & pan, brush tools.

Display only: it shows the pixels the worker sends and records what the user paints (an RGBA layer
in photo pixels) or draws (a face box). It computes nothing about faces or models.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
)

from app.drops import FileDrops
from app.faces import face_numbers
from app.qimage import to_array, to_pixmap

MODES = ("pan", "brush", "mask", "box")
MASK_COLOR = QColor(255, 0, 255)


class SplitPixmapItem(QGraphicsPixmapItem):
    """The edited photo, drawn only left of ``split`` (a fraction of the width; 1 = whole)."""

    def __init__(self) -> None:
        super().__init__()
        self.split = 1.0
        self.setTransformationMode(Qt.TransformationMode.SmoothTransformation)

    def set_split(self, fraction: float) -> None:
        self.split = min(max(fraction, 0.0), 1.0)
        self.update()

    def paint(self, painter, option, widget=None) -> None:
        if self.split < 1.0:
            r = self.boundingRect()
            painter.setClipRect(QRectF(r.x(), r.y(), r.width() * self.split, r.height()))
        super().paint(painter, option, widget)
        if 0.0 < self.split < 1.0:
            r = self.boundingRect()
            x = r.width() * self.split
            painter.setClipping(False)
            painter.setPen(QPen(QColor(255, 255, 255, 200), 0))
            painter.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))


class Canvas(FileDrops, QGraphicsView):
    faceClicked = Signal(int)
    boxDrawn = Signal(object)  # (x0, y0, x1, y1) in photo pixels
    strokesChanged = Signal(bool)  # True when something is painted
    filesDropped = Signal(list)
    zoomChanged = Signal(float)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.SmoothPixmapTransform | QPainter.RenderHint.Antialiasing)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(QColor(48, 48, 48))
        self.setAcceptDrops(True)
        self.before = QGraphicsPixmapItem()
        self.before.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.after = SplitPixmapItem()
        self.overlay = QGraphicsPixmapItem()
        self.overlay.setOpacity(0.6)
        for z, item in enumerate((self.before, self.after, self.overlay)):
            item.setZValue(z)
            self.scene().addItem(item)
        self.boxes: list[QGraphicsRectItem] = []
        self.selected = 0
        self.mode = "pan"
        self.brush_color = QColor(200, 150, 60)
        self.brush_size = 12.0
        self._layer: QImage | None = None
        self._painted = False
        self._last: QPointF | None = None
        self._rubber: QGraphicsRectItem | None = None
        self._origin: QPointF | None = None
        self.set_mode("pan")

    # -- content --------------------------------------------------------------------------------------
    def has_photo(self) -> bool:
        return not self.before.pixmap().isNull()

    def set_photo(self, photo: np.ndarray) -> None:
        pix = to_pixmap(photo)
        self.before.setPixmap(pix)
        self.after.setPixmap(pix)
        self.scene().setSceneRect(QRectF(pix.rect()))
        self._layer = QImage(pix.width(), pix.height(), QImage.Format.Format_RGBA8888)
        self.clear_strokes()
        self.fit()

    def set_result(self, photo: np.ndarray) -> None:
        """Show the edited photo; a downscaled drag preview is stretched over the photo's full size."""
        pix = to_pixmap(photo)
        self.after.setPixmap(pix)
        full = self.before.pixmap().width()
        self.after.setScale(full / pix.width() if full and pix.width() else 1.0)

    def set_faces(self, faces: list[dict], selected: int = 0) -> None:
        for item in self.boxes:
            self.scene().removeItem(item)
        self.boxes = []
        numbers = face_numbers([f["box"] for f in faces])
        for i, f in enumerate(faces):
            x0, y0, x1, y1 = f["box"]
            item = QGraphicsRectItem(QRectF(x0, y0, x1 - x0, y1 - y0))
            item.setZValue(3)
            item.setData(0, i)
            label = QGraphicsSimpleTextItem(f"{numbers[i]}" + (" (manual)" if f.get("manual") else ""), item)
            label.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            label.setBrush(QColor(255, 255, 255))
            label.setPos(x0, y0)
            self.scene().addItem(item)
            self.boxes.append(item)
        self.select_face(min(selected, max(len(faces) - 1, 0)))

    def select_face(self, i: int) -> None:
        self.selected = i
        for j, item in enumerate(self.boxes):
            color = QColor(80, 200, 255) if j == i else QColor(255, 255, 255, 140)
            pen = QPen(color, 2 if j == i else 1)
            pen.setCosmetic(True)
            item.setPen(pen)

    def set_boxes_visible(self, visible: bool) -> None:
        for item in self.boxes:
            item.setVisible(visible)

    def set_show_original(self, original: bool) -> None:
        self.after.setVisible(not original)

    def set_split(self, fraction: float) -> None:
        self.after.set_split(fraction)

    # -- zoom -----------------------------------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float) -> None:
        new = min(max(self.zoom() * factor, 0.02), 64.0)
        self.scale(new / self.zoom(), new / self.zoom())
        self.zoomChanged.emit(self.zoom())

    def fit(self) -> None:
        if self.has_photo():
            self.fitInView(self.before, Qt.AspectRatioMode.KeepAspectRatio)
            self.zoomChanged.emit(self.zoom())

    def preview_side(self) -> int:
        """The photo long side worth rendering for the current view (a drag preview needs no more)."""
        pix = self.before.pixmap()
        if pix.isNull():
            return 1280
        shown = max(pix.width(), pix.height()) * min(1.0, self.zoom()) * self.devicePixelRatioF()
        return max(480, int(shown + 0.5))

    def actual_size(self) -> None:
        self.resetTransform()
        self.zoomChanged.emit(1.0)

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(1.25**steps)
        event.accept()

    # -- tools ----------------------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown canvas mode {mode!r}")
        self.mode = mode
        drag = QGraphicsView.DragMode.ScrollHandDrag if mode == "pan" else QGraphicsView.DragMode.NoDrag
        self.setDragMode(drag)
        cursor = Qt.CursorShape.OpenHandCursor if mode == "pan" else Qt.CursorShape.CrossCursor
        self.viewport().setCursor(cursor)

    def set_brush(self, color: QColor | None = None, size: float | None = None) -> None:
        if color is not None:
            self.brush_color = QColor(color)
        if size is not None:
            self.brush_size = float(size)

    def clear_strokes(self) -> None:
        if self._layer is not None:
            self._layer.fill(Qt.GlobalColor.transparent)
            self.overlay.setPixmap(QPixmap.fromImage(self._layer))
        self._painted = False
        self.strokesChanged.emit(False)

    def strokes_rgba(self) -> np.ndarray | None:
        """What was painted, as uint8 RGBA in photo pixels (alpha = painted), or None."""
        return to_array(self._layer) if self._layer is not None and self._painted else None

    def paint_line(self, a: QPointF, b: QPointF) -> None:
        """Paint one brush segment (scene = photo pixel coordinates)."""
        if self._layer is None:
            return
        painter = QPainter(self._layer)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        color = MASK_COLOR if self.mode == "mask" else self.brush_color
        pen = QPen(color, self.brush_size, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        painter.drawLine(a, b)
        painter.end()
        self.overlay.setPixmap(QPixmap.fromImage(self._layer))
        if not self._painted:
            self._painted = True
            self.strokesChanged.emit(True)

    def mousePressEvent(self, event) -> None:
        pos = self.mapToScene(event.position().toPoint())
        if event.button() == Qt.MouseButton.LeftButton and self.mode in ("brush", "mask"):
            self._last = pos
            self.paint_line(pos, pos)
            return
        if event.button() == Qt.MouseButton.LeftButton and self.mode == "box":
            self._origin = pos
            self._rubber = QGraphicsRectItem(QRectF(pos, pos))
            pen = QPen(QColor(255, 220, 0), 1, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            self._rubber.setPen(pen)
            self._rubber.setZValue(4)
            self.scene().addItem(self._rubber)
            return
        if event.button() == Qt.MouseButton.LeftButton:
            for item in self.scene().items(pos):
                if isinstance(item, QGraphicsRectItem) and item in self.boxes:
                    self.select_face(int(item.data(0)))
                    self.faceClicked.emit(int(item.data(0)))
                    break
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        pos = self.mapToScene(event.position().toPoint())
        if self._last is not None:
            self.paint_line(self._last, pos)
            self._last = pos
            return
        if self._rubber is not None:
            self._rubber.setRect(QRectF(self._origin, pos).normalized())
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self._last is not None:
            self._last = None
            return
        if self._rubber is not None:
            r = self._rubber.rect()
            self.scene().removeItem(self._rubber)
            self._rubber = None
            if r.width() >= 8 and r.height() >= 8:
                self.boxDrawn.emit((r.left(), r.top(), r.right(), r.bottom()))
            return
        super().mouseReleaseEvent(event)
