"""Photos from patients' phones, made fit to keep: recognised by their bytes, decoded, turned
upright, scaled down to what a clinician needs on screen, and written again as a JPEG that
carries none of the original's metadata (EXIF location, camera serial numbers, XMP, comments,
thumbnails). The original bytes are never stored.

HEIC (what iPhones write by default) is decoded with pillow-heif."""

import io
import warnings
from dataclasses import dataclass

from django.utils.translation import gettext as _
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from telehealth.files import sniff

try:  # HEIC support is an optional wheel: without it HEIC is refused with a clear message.
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIC = True
except ImportError:  # pragma: no cover - the wheel is a dependency
    HEIC = False

MAX_UPLOAD_BYTES = 25 * 1024 * 1024
# Phones write 12-50 MP; far more is a decompression bomb (a few KB that would fill the memory).
MAX_PIXELS = 120_000_000
LONG_EDGE = 3072  # enough to zoom into a rash on a clinician's screen, ~1 MB as JPEG
QUALITY = 88
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/gif")


class PhotoError(ValueError):
    """A file that cannot be kept as a photo; the message is for the person who sent it."""


@dataclass(frozen=True)
class Photo:
    content: bytes
    width: int
    height: int
    content_type: str = "image/jpeg"


def _too_large(name: str) -> str:
    return _("%(name)s is too large a picture to be a photo.") % {"name": name}


def _open(data: bytes, name: str) -> Image.Image:
    kind = sniff(data[:16])
    if kind not in PHOTO_TYPES:
        raise PhotoError(
            _("%(name)s is not a photo. Send a JPEG, PNG, HEIC or WebP picture.") % {"name": name}
        )
    if kind == "image/heic" and not HEIC:
        raise PhotoError(
            _("%(name)s is an iPhone (HEIC) photo, which cannot be read here. Send it as JPEG.")
            % {"name": name}
        )
    try:
        with warnings.catch_warnings():  # the size is checked below, against our own limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        raise PhotoError(
            _("%(name)s is too large a picture to be a photo.") % {"name": name}
        ) from error
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise PhotoError(_("%(name)s could not be read as a picture.") % {"name": name}) from error
    if image.width * image.height > MAX_PIXELS:
        raise PhotoError(_too_large(name))
    return image


def prepare_photo(data: bytes, *, name: str = "photo") -> Photo:
    """The photo to store, or PhotoError. `name` only appears in messages.

    One decoded picture is worked on in place from decode to encode: scaled (in place), turned
    (in place, and only when it must be), converted to sRGB (in place) and written with its
    metadata dropped, so a 12 MP photo costs its decode, one resampling and one encode, and
    no full-size copies (bench/bench_photos.py)."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise PhotoError(_("%(name)s is larger than 25 MB.") % {"name": name})
    image = _open(data, name)
    try:
        if image.format == "JPEG":
            # Decode at the smallest power-of-two scale still above the target (DCT scaling):
            # a 48 MP photo then never exists at full size in memory.
            scale = LONG_EDGE / max(image.size)
            if scale < 1:
                image.draft("RGB", (round(image.width * scale), round(image.height * scale)))
        # Scaled before it is turned: turning a 12 MP image costs as much as scaling it.
        # Bicubic, not Lanczos: a phone photo shrinks by 1.3 to 2.6 times here, where the two
        # cannot be told apart on screen, and bicubic's shorter kernel costs a third less.
        image.thumbnail((LONG_EDGE, LONG_EDGE), Image.Resampling.BICUBIC)
        icc_profile = image.info.get("icc_profile")
        ImageOps.exif_transpose(image, in_place=True)  # a copy only if it must turn
        upright = image if image.mode in ("RGB", "L") else _flatten(image)
        upright = _to_srgb(upright, icc_profile)
        # JPEG writes only what save() is given, but for a comment it also takes from info:
        # with info emptied, nothing of the sender's metadata can reach the file.
        upright.info = {}
        out = io.BytesIO()
        upright.save(out, "JPEG", quality=QUALITY)
    except (OSError, ValueError, SyntaxError) as error:
        # Truncated or corrupt data surfaces only when the pixels are decoded.
        raise PhotoError(_("%(name)s could not be read as a picture.") % {"name": name}) from error
    finally:
        image.close()
    return Photo(content=out.getvalue(), width=upright.width, height=upright.height)


def _flatten(image: Image.Image) -> Image.Image:
    """RGB on white: transparency becomes the paper a clinician would see it on."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Colours as the camera meant them once the profile is gone: iPhones shoot in Display P3,
    and skin tones read wrong if P3 values are shown as sRGB."""
    if not icc_profile or image.mode != "RGB":
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        ImageCms.profileToProfile(image, source, SRGB, inPlace=True)  # no second picture
        return image
    except (ImageCms.PyCMSError, OSError):
        return image  # a broken profile: keep the values as they are


SRGB = ImageCms.createProfile("sRGB")
