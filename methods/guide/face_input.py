"""A user's face photo -> a 64-px crop framed like the face generator's own faces.

Reading is defensive (every failure is a :class:`FaceInputError` whose message is shown to users): not an
image, a damaged file, a huge image (refused or decoded reduced, never fully in memory), greyscale / RGBA /
CMYK / palette modes, EXIF rotation. Detection and the 5 landmarks come from facenet-pytorch's MTCNN (its
weights ship in the package); a similarity transform maps them onto the landmark template measured on the
generator's samples (``assets/identity/face_template.json``, written by ``scripts/train_encoder.py``).
"""
from __future__ import annotations

import functools
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import InputError

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "identity"
MAX_PIXELS = 40_000_000  # larger photos are decoded reduced (JPEG) or refused: a 20000-px PNG needs 1.2 GB
WORKING_SIDE = 2048  # the detector runs on at most this side
MIN_FACE_PX = 40  # a face smaller than this (box height) has less detail than the generator's 64-px faces
MIN_PROBABILITY = 0.9
PhotoSource = Union[str, Path, bytes, Image.Image, np.ndarray]


class FaceInputError(InputError):
    """A photo that cannot be used, with a message for the user."""


@dataclass
class AlignedFace:
    """The aligned crop (uint8 (64, 64, 3)) and how it was found."""

    image: np.ndarray
    box: np.ndarray  # x0, y0, x1, y1 in the (possibly reduced) photo
    landmarks: np.ndarray  # (5, 2): eyes, nose, mouth corners
    probability: float
    faces_found: int
    notes: list[str] = field(default_factory=list)
    photo: np.ndarray | None = None  # the photo as read (uint8 RGB, at most WORKING_SIDE a side)


def load_photo(source: PhotoSource, notes: list[str] | None = None) -> np.ndarray:
    """Read a photo as uint8 RGB (H, W, 3), upright, with at most ``WORKING_SIDE`` px a side."""
    notes = notes if notes is not None else []
    if isinstance(source, np.ndarray):
        image = Image.fromarray(_as_uint8(source))
    elif isinstance(source, Image.Image):
        image = source
    else:
        image = _open(source)
    width, height = image.size
    if min(width, height) < MIN_SIDE:
        raise FaceInputError(f"the image is {width}×{height} px: too small to hold a face")
    if width * height > MAX_PIXELS:
        if image.format == "JPEG":
            image.draft("RGB", (width * 4096 // max(width, height), height * 4096 // max(width, height)))
            notes.append(f"the photo is {width}×{height} px; it was decoded at reduced size")
        else:
            raise FaceInputError(f"the image is {width}×{height} px ({width * height / 1e6:.0f} MP); the limit is "
                                 f"{MAX_PIXELS // 1_000_000} MP — please downscale it (or upload a JPEG)")
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError) as exc:
        raise FaceInputError("the file is damaged or truncated: it could not be decoded") from exc
    image = _to_rgb(image)
    if max(image.size) > WORKING_SIDE:
        image.thumbnail((WORKING_SIDE, WORKING_SIDE), Image.LANCZOS)
    return np.asarray(image, dtype=np.uint8).copy()


# Only formats a photo comes in: Pillow would otherwise also open e.g. a renamed EPS (through Ghostscript).
PHOTO_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")
MIN_SIDE = 16  # px: smaller than this is no photo of a face


def _open(source: str | Path | bytes) -> Image.Image:
    try:
        Image.init()  # register every plugin, so that `formats` can name them
        image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else Path(source), formats=PHOTO_FORMATS)
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, ValueError) as exc:  # ValueError: e.g. an oversized PNG text chunk
        raise FaceInputError("this file is not an image (or not a format Pillow can read: use JPEG or PNG)") from exc
    except Image.DecompressionBombError as exc:
        raise FaceInputError(f"the image is far too large to decode safely; the limit is {MAX_PIXELS // 1_000_000} MP") from exc
    return image


def _as_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    array = np.asarray(array, dtype=np.float64)
    return (np.clip(array, 0, 1) * 255).round().astype(np.uint8) if array.max() <= 1.0 else np.clip(array, 0, 255).astype(np.uint8)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any mode -> RGB; transparency is composited on white (a transparent background is not black)."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        span = max(array.max() - array.min(), 1e-9)
        return Image.fromarray(((array - array.min()) / span * 255).astype(np.uint8)).convert("RGB")
    return image.convert("RGB")  # L, 1, P, CMYK, YCbCr, ...


@functools.lru_cache(maxsize=1)
def template() -> np.ndarray:
    """Where the generator puts the eyes, nose and mouth corners in its 64-px faces (mean of MTCNN landmarks)."""
    return np.asarray(json.loads((ASSETS / "face_template.json").read_text())["landmarks_64px"], dtype=np.float64)


@functools.lru_cache(maxsize=1)
def _mtcnn():
    from facenet_pytorch import MTCNN

    return MTCNN(keep_all=True, device="cpu")


def detect_faces(photo: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """(box, 5 landmarks, probability) for every face MTCNN finds with probability >= 0.9, largest first."""
    boxes, probs, landmarks = _mtcnn().detect(Image.fromarray(photo), landmarks=True)
    if boxes is None:
        return []
    found = [(np.asarray(b, float), np.asarray(l, float), float(p)) for b, p, l in zip(boxes, probs, landmarks)
             if p is not None and float(p) >= MIN_PROBABILITY]
    return sorted(found, key=lambda f: -(f[0][2] - f[0][0]) * (f[0][3] - f[0][1]))


def warp_to_template(photo: np.ndarray, landmarks: np.ndarray, size: int = 64, oversample: int = 4) -> np.ndarray:
    """Similarity-transform ``photo`` so its landmarks land on the template; render at 4x, then reduce
    (anti-aliased). Outside the photo, edge pixels are repeated."""
    from skimage import transform

    target = template() * (size / 64.0) * oversample
    tf = transform.SimilarityTransform.from_estimate(target, landmarks)
    big = transform.warp(photo, tf, output_shape=(size * oversample, size * oversample), mode="edge", preserve_range=True)
    return np.asarray(Image.fromarray(big.round().astype(np.uint8)).resize((size, size), Image.LANCZOS))


def align_face(source: PhotoSource, size: int = 64) -> AlignedFace:
    """Load, detect (largest face if several), check its size, and align to the generator's framing."""
    notes: list[str] = []
    photo = load_photo(source, notes)
    faces = detect_faces(photo)
    if not faces:
        raise FaceInputError("no face found in this image (MTCNN, probability ≥ 0.9): use a photo with a clearly visible, roughly frontal face")
    box, landmarks, probability = faces[0]
    if len(faces) > 1:
        notes.append(f"{len(faces)} faces found: using the largest")
    height = box[3] - box[1]
    if height < MIN_FACE_PX:
        raise FaceInputError(f"the face is only {height:.0f} px tall; at least {MIN_FACE_PX} px are needed — use a closer or larger photo")
    return AlignedFace(warp_to_template(photo, landmarks, size), box, landmarks, probability, len(faces), notes, photo)


def other_views(face: AlignedFace, names: Optional[Sequence[str]] = None, size: int = 64) -> dict[str, np.ndarray]:
    """Other images of the same person made from the photo ``face`` was found in, each detected and aligned
    on its own: mirrored, re-cropped (tighter and looser, off-centre) and re-lit (darker, brighter, side
    light); only those in ``names`` when given (:data:`methods.guide.config.VIEWS`). Views in which no face is found are left out."""
    photo = face.photo
    x0, y0, x1, y1 = face.box
    cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0)
    h, w = photo.shape[:2]

    def crop(scale: float, dx: float, dy: float) -> np.ndarray:
        half = side * scale / 2
        left, top = int(max(0, cx + dx * side - half)), int(max(0, cy + dy * side - half))
        return photo[top : int(min(h, cy + dy * side + half)), left : int(min(w, cx + dx * side + half))]

    as_float = photo.astype(np.float64) / 255
    ramp = np.linspace(0.55, 1.25, w)[None, :, None]
    candidates = {
        "mirrored": photo[:, ::-1],
        "re-cropped tight": crop(1.3, 0.08, 0.05),
        "re-cropped loose": crop(2.6, -0.15, -0.1),
        "darker": (as_float ** 1.6 * 255).astype(np.uint8),
        "brighter": (as_float ** 0.6 * 255).astype(np.uint8),
        "side light": (np.clip(as_float * ramp, 0, 1) * 255).astype(np.uint8),
    }
    views = {}
    for name, image in candidates.items():
        if names is not None and name not in names:
            continue
        found = detect_faces(np.ascontiguousarray(image))
        if found:
            views[name] = warp_to_template(np.ascontiguousarray(image), found[0][1], size)
    return views


def example_photos() -> dict[str, Path]:
    """Real photographed faces that ship with installed packages (scikit-image's sample data)."""
    import skimage

    folder = Path(skimage.__file__).parent / "data"
    return {"astronaut (Eileen Collins, scikit-image)": folder / "astronaut.png",
            "cameraman (greyscale, scikit-image)": folder / "camera.png"}


def lfw_photos(indices: tuple[int, ...] = (0, 1)) -> dict[str, np.ndarray]:
    """Two faces of scikit-image's LFW subset (25 px, real photos), up-scaled: a hard, low-detail case."""
    from skimage import data

    faces = data.lfw_subset()
    out = {}
    for i in indices:
        im = (np.stack([faces[i]] * 3, -1) * 255).astype(np.uint8)
        out[f"LFW subset #{i} (25 px)"] = np.asarray(Image.fromarray(im).resize((200, 200), Image.BICUBIC))
    return out
