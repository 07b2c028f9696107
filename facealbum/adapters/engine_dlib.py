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


class DlibFaceEngine:
    @classmethod
    def from_settings(cls, settings: Settings) -> DlibFaceEngine:
        return cls(settings.detector, settings.detect_upsample, settings.min_face_confidence)

    def __init__(self, detector: str = "hog", upsample: int = 0, min_confidence: float = 0.0):
        self.detector = detector
        self.upsample = upsample
        self.min_confidence = min_confidence
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
        return [(r, c) for r, c in found if c >= self.min_confidence]

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
