"""Every kind of bad or unusual photo gets a clear message (or is handled), never a traceback."""
import io

import numpy as np
import pytest
from PIL import Image
from skimage import data

from methods.guide.face_input import FaceInputError, align_face, load_photo, other_views
from methods.image_metrics import ssim_per_image
from methods.guide.inversion import to_tensor


@pytest.fixture(scope="module")
def reference():
    return align_face(data.astronaut()).image


def _bytes(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def _close(a, b) -> float:
    return float(ssim_per_image(to_tensor(a), to_tensor(b))[0])


def test_tiny_images_other_formats_and_png_bombs_get_a_message():
    with pytest.raises(FaceInputError, match="1×1 px: too small"):
        align_face(_bytes(Image.new("RGB", (1, 1)), "PNG"))
    eps = _bytes(Image.fromarray(data.astronaut()), "EPS")  # Pillow would open it through its EPS reader
    with pytest.raises(FaceInputError, match="not an image"):
        load_photo(eps)
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "x" * (2 * 1024 * 1024), zip=True)  # a text chunk over Pillow's safety limit
    with pytest.raises(FaceInputError, match="not an image"):
        load_photo(_bytes(Image.fromarray(data.astronaut()), "PNG", pnginfo=info))


def test_not_an_image_and_a_damaged_file():
    with pytest.raises(FaceInputError, match="not an image"):
        align_face(b"%PDF-1.4 definitely not a picture")
    broken = _bytes(Image.fromarray(data.astronaut()), "JPEG")[:5000]
    with pytest.raises(FaceInputError, match="damaged"):
        align_face(broken)


def test_no_face_and_a_tiny_face():
    with pytest.raises(FaceInputError, match="no face"):
        align_face(data.coffee())
    small = Image.fromarray(data.astronaut()).resize((96, 96))
    with pytest.raises(FaceInputError, match="px tall"):
        align_face(np.asarray(small))


def test_several_faces_use_the_largest_and_say_so(reference):
    big = data.astronaut()
    small = np.asarray(Image.fromarray(big).resize((300, 300)))
    canvas = np.full((512, 850, 3), 255, np.uint8)
    canvas[:, :512], canvas[100:400, 540:840] = big, small
    face = align_face(canvas)
    assert face.faces_found == 2 and any("2 faces" in n for n in face.notes)
    assert _close(face.image, reference) > 0.9


def test_huge_images_are_refused_or_reduced_without_decoding_them():
    huge_png = _bytes(Image.new("1", (20000, 20000)), "PNG")  # 400 MP: 1.2 GB if decoded as RGB
    with pytest.raises(FaceInputError, match="too large|downscale"):
        load_photo(huge_png)
    notes = []
    photo = load_photo(_bytes(Image.new("L", (9000, 6000), 128), "JPEG"), notes)
    assert max(photo.shape[:2]) <= 2048 and photo.shape[2] == 3 and "reduced" in notes[0]


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P"])
def test_colour_modes_are_converted(mode, reference):
    image = Image.fromarray(data.astronaut()).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    face = align_face(_bytes(image, fmt))
    assert face.image.shape == (64, 64, 3)
    assert _close(face.image, reference) > (0.6 if mode == "L" else 0.85)


def test_exif_rotation_is_applied(reference):
    rotated = Image.fromarray(data.astronaut()).rotate(90, expand=True)  # stored sideways...
    exif = Image.Exif()
    exif[0x0112] = 6  # ...with the EXIF tag "rotate 90° clockwise to display"
    face = align_face(_bytes(rotated, "JPEG", exif=exif, quality=95))
    assert _close(face.image, reference) > 0.85


def test_other_views_are_different_images_of_the_face(reference):
    views = other_views(align_face(data.astronaut()))
    assert {"mirrored", "darker", "brighter"} <= set(views) and len(views) >= 5
    assert all(v.shape == (64, 64, 3) for v in views.values())
    assert _close(views["darker"], reference) < 0.99 and _close(views["mirrored"], reference) < 0.99
