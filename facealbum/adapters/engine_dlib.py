"""The face engine on dlib: HOG (or CNN) detector, 5-point landmarks, ResNet descriptor.

Weights come from the ``face-recognition-models`` package on disk; nothing is fetched
at run time. Descriptors are returned unit-length so that similarity is a dot product.
"""

from __future__ import annotations

import math
import threading
from functools import cache
from typing import Any

import dlib
import face_recognition_models as frm
import numpy as np

from ..ports import DetectedFace
from ..settings import Settings


@cache
def _models(detector: str) -> tuple[Any, Any, Any]:
    if detector == "cnn":
        det = dlib.cnn_face_detection_model_v1(frm.cnn_face_detector_model_location())
    else:
        det = dlib.get_frontal_face_detector()
    shape = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    rec = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    return det, shape, rec


def hog_confidence(score: float) -> float:
    """Map the HOG detector's SVM margin (about -0.5..3.5) onto Rekognition's 0-100;
    monotonic, so a confidence threshold is a margin threshold."""
    return round(100.0 / (1.0 + math.exp(-2.5 * (score + 0.5))), 3)


def sharpness(rgb: np.ndarray, shape: Any) -> float:
    """How much detail the descriptor gets (0-100): the face aligned as the ResNet
    sees it (150 px), its Laplacian's variance over its contrast, on a log scale.
    Blur and upscaled small faces score low (about 30), photos about 70; blurred
    faces all look alike to the model, so their matches need a higher similarity."""
    chip = np.asarray(dlib.get_face_chip(rgb, shape, size=150, padding=0.0), dtype=np.float32)
    g = chip @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    ratio = float(lap.var()) / (float(g.var()) + 1e-6)
    return round(min(max((math.log10(ratio + 1e-9) + 3) / 2, 0.0), 1.0) * 100, 2)


Box = tuple[int, int, int, int]  # left, top, right, bottom (exclusive) in pixels

# dlib's frontal HOG detector scans an 80x80 window; its smallest boxes are 73 px wide
HOG_SMALLEST = 73
# the second pass looks around faces found under this width (1.5x the smallest): where
# the detector only just saw some faces, others nearby may be too small for it
FINE_TRIGGER = 110
# how far around such a face (in face widths) the second pass looks: a group's rows
FINE_MARGIN_X, FINE_MARGIN_Y = 3.0, 1.5


def _rect_box(rect: Any, dx: int = 0, dy: int = 0) -> Box:
    return (rect.left() + dx, rect.top() + dy, rect.right() + 1 + dx, rect.bottom() + 1 + dy)


def _overlap(a: Box, b: Box) -> float:
    """The intersection's area over the smaller box's: 1 when one holds the other."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / max(smaller, 1)


def fine_regions(boxes: list[Box], width: int, height: int) -> list[Box]:
    """Where the second pass looks: around each face under FINE_TRIGGER px, widened by
    FINE_MARGIN_X face widths left and right and FINE_MARGIN_Y above and below, within
    the image; overlapping regions merged into their bounding box until none overlap,
    so that no pixel is scanned twice."""
    regions = []
    for left, top, right, bottom in boxes:
        w = right - left
        if w >= FINE_TRIGGER:
            continue
        mx, my = round(FINE_MARGIN_X * w), round(FINE_MARGIN_Y * w)
        regions.append(
            (max(0, left - mx), max(0, top - my), min(width, right + mx), min(height, bottom + my))
        )
    merged = True
    while merged:
        merged = False
        for i, a in enumerate(regions):
            for j in range(i + 1, len(regions)):
                b = regions[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    regions[i] = (
                        min(a[0], b[0]),
                        min(a[1], b[1]),
                        max(a[2], b[2]),
                        max(a[3], b[3]),
                    )
                    del regions[j]
                    merged = True
                    break
            if merged:
                break
    return regions


class DlibFaceEngine:
    @classmethod
    def from_settings(cls, settings: Settings) -> DlibFaceEngine:
        return cls(
            settings.detector,
            settings.detect_upsample,
            settings.min_face_confidence,
            fine_min_side=settings.detect_size if settings.detect_fine_applies else 0,
        )

    def __init__(
        self,
        detector: str = "hog",
        upsample: int = 0,
        min_confidence: float = 0.0,
        fine_min_side: int = 0,
    ):
        """``fine_min_side``: images whose long side is at least this (the detection
        size: photos that large or enlarged to it) get the second, finer HOG pass of
        :meth:`detect`; 0 turns it off."""
        self.detector = detector
        self.upsample = upsample
        self.min_confidence = min_confidence
        self.fine_min_side = fine_min_side
        self._lock = threading.Lock()  # dlib models are not documented as thread-safe

    def analyze(self, rgb: np.ndarray) -> list[DetectedFace]:
        rgb = np.ascontiguousarray(rgb)
        return self.embed(rgb, self.detect(rgb))

    def detect(self, rgb: np.ndarray) -> list[tuple[Any, float]]:
        """(dlib rectangle, confidence 0-100) for each face at or above min_confidence."""
        det, _, _ = _models(self.detector)
        with self._lock:
            if self.detector == "cnn":
                found = [(d.rect, float(d.confidence) * 100) for d in det(rgb, self.upsample)]
            else:
                rects, scores, _ = det.run(rgb, self.upsample, 0.0)
                found = [(r, hog_confidence(s)) for r, s in zip(rects, scores, strict=True)]
                if self.fine_min_side and max(rgb.shape[:2]) >= self.fine_min_side:
                    found += self._fine(det, rgb, [r for r, _ in found])
        return [(r, c) for r, c in found if c >= self.min_confidence]

    def _fine(self, det: Any, rgb: np.ndarray, rects: list[Any]) -> list[tuple[Any, float]]:
        """The second pass: the regions of :func:`fine_regions` scanned at twice the
        scale (dlib's pyramid upsampling, one step), so that faces down to about half
        the detector's smallest (~40 px, 2.5 % of a 1600 px image's long side) are
        found where the first pass saw small faces. Only faces smaller than the first
        pass can see are kept, and none overlapping a face already found (more than
        half of the smaller box), so no face is found twice. Scanning the whole image
        this way costs about 4x the first pass (``detect_upsample=1``); group photos
        are where faces this small come with others the first pass finds.
        Boxes are returned in ``rgb``'s coordinates."""
        boxes = [_rect_box(r) for r in rects]
        height, width = rgb.shape[:2]
        extra: list[tuple[Any, float]] = []
        for x0, y0, x1, y1 in fine_regions(boxes, width, height):
            crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
            fine, scores, _ = det.run(crop, 1, 0.0)
            for r, score in zip(fine, scores, strict=True):
                box = _rect_box(r, x0, y0)
                if box[2] - box[0] >= HOG_SMALLEST:
                    continue  # a size the first pass scanned: it found it or ruled it out
                if any(_overlap(box, b) > 0.5 for b in boxes):
                    continue
                boxes.append(box)
                extra.append(
                    (dlib.rectangle(*box[:2], box[2] - 1, box[3] - 1), hog_confidence(score))
                )
        return extra

    def embed(self, rgb: np.ndarray, found: list[tuple[Any, float]]) -> list[DetectedFace]:
        """Landmarks and descriptors for all faces of a photo in one batched call."""
        if not found:
            return []
        _, shape_predictor, rec = _models(self.detector)
        with self._lock:
            shapes = dlib.full_object_detections()
            for rect, _ in found:
                shapes.append(shape_predictor(rgb, rect))
            descriptors = rec.compute_face_descriptor(rgb, shapes)
        sharp = [sharpness(rgb, shape) for shape in shapes]
        h, w = rgb.shape[:2]
        faces = []
        for (rect, conf), desc, s, shape in zip(found, descriptors, sharp, shapes, strict=True):
            vec = np.asarray(desc, dtype=np.float32)
            vec /= np.linalg.norm(vec) or 1.0
            faces.append(
                DetectedFace(
                    left=max(0, rect.left()),
                    top=max(0, rect.top()),
                    right=min(w, rect.right() + 1),
                    bottom=min(h, rect.bottom() + 1),
                    confidence=conf,
                    embedding=vec,
                    sharpness=s,
                    landmarks=landmarks(shape),
                )
            )
        return faces


def landmarks(shape: Any) -> dict[str, tuple[float, float]]:
    """The 5-point model's points under Rekognition's names: the corners of each eye
    (leftEyeLeft, leftEyeRight, rightEyeLeft, rightEyeRight; "left" as seen in the
    image), the eyes' centres (eyeLeft, eyeRight) and the base of the nose (nose), in
    pixels."""
    points = [(float(shape.part(i).x), float(shape.part(i).y)) for i in range(shape.num_parts)]
    if len(points) != 5:
        return {}
    left, right = sorted([sorted(points[0:2]), sorted(points[2:4])], key=lambda e: e[0][0])

    def centre(eye: list[tuple[float, float]]) -> tuple[float, float]:
        return ((eye[0][0] + eye[1][0]) / 2, (eye[0][1] + eye[1][1]) / 2)

    return {
        "eyeLeft": centre(left),
        "eyeRight": centre(right),
        "leftEyeLeft": left[0],
        "leftEyeRight": left[1],
        "rightEyeLeft": right[0],
        "rightEyeRight": right[1],
        "nose": points[4],
    }
