"""prepare_photo on published camera files (tests/fixtures/photos/README.md): an iPhone's
HEIC with its GPS position, a Xiaomi phone's JPEG header, and Pillow's orientation samples.
Photos we build ourselves (tests/core/test_photos.py) only carry the tags we thought of."""

import io
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from telehealth.photos import LONG_EDGE, prepare_photo

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "photos"
GPS, MAKE, MODEL, ORIENTATION = 0x8825, 0x010F, 0x0110, 0x0112


def read(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def stored(name: str) -> tuple[bytes, Image.Image]:
    photo = prepare_photo(read(name), name=name)
    image = Image.open(io.BytesIO(photo.content))
    assert (image.width, image.height) == (photo.width, photo.height)
    return photo.content, image


def assert_no_metadata(content: bytes, image: Image.Image) -> None:
    assert image.format == "JPEG"
    assert dict(image.getexif()) == {}
    assert not {"exif", "xmp", "icc_profile", "comment", "photoshop"} & set(image.info)
    assert b"Exif\x00\x00" not in content and b"http://ns.adobe.com/xap" not in content


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def test_an_iphone_heic_loses_its_gps_position_and_camera_and_is_scaled():
    original = Image.open(io.BytesIO(read("IMG_5195.HEIC")))
    exif = original.getexif()
    assert (exif[MAKE], exif[MODEL]) == ("Apple", "iPhone 11 Pro Max")
    assert exif.get_ifd(GPS)[2] == (39.0, 3.0, 4.84)  # the file does say where it was taken
    content, image = stored("IMG_5195.HEIC")
    assert_no_metadata(content, image)
    assert b"Apple" not in content and b"iPhone" not in content
    # 2566 x 3313 as taken (portrait): the long edge comes down to ours, the shape stays.
    assert image.height == LONG_EDGE
    assert image.width == pytest.approx(LONG_EDGE * 2566 / 3313, abs=1)


def test_a_xiaomi_phone_jpeg_loses_its_camera_and_gps_block_and_is_turned_upright():
    original = Image.open(io.BytesIO(read("empty_gps_ifd.jpg")))
    exif = original.getexif()
    assert (exif[MAKE], exif[ORIENTATION]) == ("Xiaomi", 6) and GPS in exif
    content, image = stored("empty_gps_ifd.jpg")
    assert_no_metadata(content, image)
    assert b"Xiaomi" not in content and b"Redmi" not in content


def test_a_jpeg_with_gps_values_loses_them():
    assert Image.open(io.BytesIO(read("exif_gps.jpg"))).getexif().get_ifd(GPS)
    content, image = stored("exif_gps.jpg")
    assert_no_metadata(content, image)


@pytest.mark.parametrize("orientation", [3, 6])
def test_a_turned_camera_file_is_stored_upright(orientation):
    """Pillow's hopper_orientation_N.jpg hold hopper.jpg's picture as a camera turned N would
    write it; once prepared, each must look like hopper.jpg, not like its own raw pixels."""
    name = f"hopper_orientation_{orientation}.jpg"
    raw = Image.open(io.BytesIO(read(name)))
    assert raw.getexif()[ORIENTATION] == orientation
    _, upright = stored("hopper.jpg")
    content, image = stored(name)
    assert_no_metadata(content, image)
    assert mean_difference(image, upright) < 8  # the same picture, give or take JPEG
    assert mean_difference(raw, upright) > 30  # and the raw pixels are not
