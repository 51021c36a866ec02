"""A phone photo made fit to keep: sniff, decode, turn upright, scale, strip every metadata
block, re-encode and encrypt, for a 12-megapixel JPEG (4032 x 3024, what most phones write)
and the same picture as an iPhone's HEIC. The issue's budget is one second per photo on this
machine; the figure is the median of ROUNDS runs, with the plain decode of the same file as the
baseline measured in the same process.

    python bench/bench_photos.py

Prints readable lines, then one JSON line last."""

import io
import json
import os
import statistics
import time

from common import setup_django

setup_django()

from PIL import Image, ImageFilter  # noqa: E402
from pillow_heif import from_pillow  # noqa: E402

from telehealth.crypto.keys import encrypt_bytes  # noqa: E402
from telehealth.photos import prepare_photo  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
SIZE = (4032, 3024)
BUDGET_SECONDS = 1.0


def camera_picture() -> Image.Image:
    """Photo-like content (softened sensor noise over gradients): as hard for the codecs as a
    close-up of skin, about 2 MB as JPEG like a phone's. Raw noise would be an 11 MB HEIC."""
    noise = Image.effect_noise(SIZE, 40).filter(ImageFilter.GaussianBlur(1.2))
    gradient = Image.linear_gradient("L").resize(SIZE)
    return Image.merge("RGB", (noise, gradient, Image.blend(noise, gradient, 0.5)))


def jpeg(picture: Image.Image) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # taken in portrait
    exif.get_ifd(0x8825).update({1: "N", 2: (40.0, 42.0, 46.0), 3: "W", 4: (74.0, 0.0, 21.0)})
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=92, exif=exif)
    return out.getvalue()


def heic(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    from_pillow(picture).save(out, quality=80)
    return out.getvalue()


def median_seconds(fn) -> float:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    picture = camera_picture()
    results = {}
    for kind, data in (("jpeg_12mp", jpeg(picture)), ("heic_12mp", heic(picture))):

        def decode_only(data=data):
            with Image.open(io.BytesIO(data)) as image:
                image.load()

        def keep(data=data):
            encrypt_bytes(prepare_photo(data).content)

        baseline = median_seconds(decode_only)
        seconds = median_seconds(keep)
        stored = prepare_photo(data)
        results[kind] = {
            "upload_bytes": len(data),
            "stored_bytes": len(stored.content),
            "stored_size": [stored.width, stored.height],
            "seconds": round(seconds, 3),
            "decode_only_seconds": round(baseline, 3),
            "ratio_to_decode": round(seconds / baseline, 2),
            "within_budget": seconds < BUDGET_SECONDS,
        }
        print(
            f"{kind}: {len(data) / 1e6:.1f} MB -> {len(stored.content) / 1e6:.2f} MB "
            f"{stored.width}x{stored.height}; kept in {seconds * 1000:.0f} ms "
            f"(decode alone {baseline * 1000:.0f} ms, x{seconds / baseline:.2f}); "
            f"budget {BUDGET_SECONDS:.0f} s: {'met' if seconds < BUDGET_SECONDS else 'MISSED'}"
        )
    print(json.dumps({"bench": "photos", "rounds": ROUNDS, **results}))


if __name__ == "__main__":
    main()
