"""Photos as stored: upright, scaled, re-encoded without any of the sender's metadata."""

import io
import struct
import zlib

import pytest
from PIL import Image, ImageCms
from pillow_heif import from_pillow

from telehealth.photos import LONG_EDGE, PhotoError, prepare_photo

GPS = 0x8825
ORIENTATION = 0x0112


def camera_jpeg(size=(4000, 3000), orientation=1) -> bytes:
    """A phone-like JPEG: EXIF with a GPS position, a camera serial and an orientation."""
    image = Image.new("RGB", size, (200, 120, 90))
    image.paste((20, 20, 200), (0, 0, size[0] // 2, size[1] // 4))  # a mark at the top left
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0xA431] = "SN-0042"  # BodySerialNumber
    exif.get_ifd(GPS).update({1: "N", 2: (40.0, 42.0, 46.0), 3: "W", 4: (74.0, 0.0, 21.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=b"Jane's rash, kitchen", quality=90)
    return out.getvalue()


def opened(photo) -> Image.Image:
    return Image.open(io.BytesIO(photo.content))


def rgb(image: Image.Image, xy: tuple[int, int]) -> tuple[int, int, int]:
    red, green, blue = image.convert("RGB").getpixel(xy)  # type: ignore[misc]
    return red, green, blue


def test_a_phone_photo_loses_its_location_and_every_other_metadata_block():
    photo = prepare_photo(camera_jpeg())
    image = opened(photo)
    assert image.format == "JPEG" and photo.content_type == "image/jpeg"
    assert dict(image.getexif()) == {}
    assert not {"exif", "comment", "icc_profile", "xmp"} & set(image.info)
    assert b"SN-0042" not in photo.content and b"kitchen" not in photo.content


def test_a_photo_is_scaled_to_the_long_edge_and_turned_upright():
    # Orientation 6: the sensor's image must be turned 90° clockwise to be seen upright.
    photo = prepare_photo(camera_jpeg(orientation=6))
    assert (photo.width, photo.height) == (LONG_EDGE * 3 // 4, LONG_EDGE)
    image = opened(photo).convert("RGB")
    # The mark at the sensor's top left is at the top right once turned.
    assert rgb(image, (photo.width - 10, 10))[2] > 150
    assert rgb(image, (10, 10))[2] < 150


def test_a_small_photo_is_not_enlarged():
    photo = prepare_photo(camera_jpeg(size=(800, 600)))
    assert (photo.width, photo.height) == (800, 600)


def test_an_iphone_heic_photo_is_converted_to_jpeg():
    out = io.BytesIO()
    from_pillow(Image.new("RGB", (1200, 900), (10, 200, 10))).save(out, quality=80)
    heic = out.getvalue()
    assert heic[4:12] in (b"ftypheic", b"ftypmif1")
    photo = prepare_photo(heic, name="IMG_0001.HEIC")
    assert opened(photo).format == "JPEG" and (photo.width, photo.height) == (1200, 900)
    assert rgb(opened(photo), (600, 450))[1] > 150


def test_transparency_is_flattened_on_white():
    image = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    photo = prepare_photo(out.getvalue())
    assert min(rgb(opened(photo), (20, 20))) >= 250


def display_p3_profile() -> bytes:
    """An ICC v2 matrix/TRC profile with Display P3's primaries (as Apple's, adapted to D50)."""

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ " + b"\0" * 4 + s15(x) + s15(y) + s15(z)

    gamma = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, round(2.2 * 256)) + b"\0\0"
    text = b"desc" + b"\0" * 4 + struct.pack(">I", 3) + b"P3\0" + b"\0" * 79
    tags = [
        (b"desc", text),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.5151, 0.2412, -0.0011)),
        (b"gXYZ", xyz(0.2919, 0.6922, 0.0419)),
        (b"bXYZ", xyz(0.1571, 0.0666, 0.7841)),
        (b"rTRC", gamma),
        (b"gTRC", gamma),
        (b"bTRC", gamma),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body + b"\0" * (-len(body) % 4)
    size = offset + len(data)
    header = struct.pack(">I", size) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ "
    header += b"\0" * 12 + b"acsp" + b"\0" * 24 + b"\0" * 16 + s15(0.9642) + s15(1.0) + s15(0.8249)
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + data


def tagged_jpeg(colour, icc_profile: bytes) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(out, "JPEG", icc_profile=icc_profile, quality=98)
    return out.getvalue()


def test_a_display_p3_photo_is_converted_to_srgb_and_an_srgb_one_kept():
    colour = (180, 90, 60)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    kept = opened(prepare_photo(tagged_jpeg(colour, srgb)))
    converted = opened(prepare_photo(tagged_jpeg(colour, display_p3_profile())))
    assert "icc_profile" not in kept.info and "icc_profile" not in converted.info
    assert all(abs(a - b) <= 3 for a, b in zip(rgb(kept, (32, 32)), colour, strict=True))
    # P3's red is redder than sRGB's: the same numbers mean a more saturated colour.
    red, green, _ = rgb(converted, (32, 32))
    assert red > colour[0] + 8 and green < colour[1]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"MZ\x90\x00 this is a program, renamed", "is not a photo"),
        (b"%PDF-1.7\n%...", "is not a photo"),
        (b"", "is not a photo"),
    ],
)
def test_what_is_not_a_photo_is_refused_by_its_bytes(data, message):
    with pytest.raises(PhotoError, match=message):
        prepare_photo(data, name="rash.jpg")


def test_a_truncated_photo_is_refused_with_a_message():
    data = camera_jpeg(size=(400, 300))
    with pytest.raises(PhotoError, match="could not be read"):
        prepare_photo(data[: len(data) // 2], name="rash.jpg")


def png_header(width: int, height: int) -> bytes:
    """A few hundred bytes that claim a huge image: what a decompression bomb looks like."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


@pytest.mark.parametrize("side", [12_000, 40_000])  # ours (120 MP) and Pillow's own limit
def test_a_decompression_bomb_is_refused_before_decoding(side):
    with pytest.raises(PhotoError, match="too large a picture"):
        prepare_photo(png_header(side, side), name="bomb.png")


def test_an_upload_over_25_mb_is_refused_before_reading():
    with pytest.raises(PhotoError, match="larger than 25 MB"):
        prepare_photo(b"\xff\xd8\xff" + b"\0" * (25 * 1024 * 1024))
