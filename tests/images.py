"""Test images built in memory: metadata-laden JPEGs, bombs declared in a PNG header."""

from __future__ import annotations

import io
import random
import struct
import zlib

from PIL import Image, ImageCms

RED = (255, 0, 0)
BLUE = (0, 0, 255)
SECRETS = (b"Exif", b"GPS", b"SecretMake", b"13800138000", b"xmpmeta", b"sRGB", b"ICC_PROFILE")


def two_tone(size: tuple[int, int] = (40, 20), mode: str = "RGB") -> Image.Image:
    """Left half red, right half blue: shows where pixels end up after rotation."""
    img = Image.new("RGB", size, BLUE)
    img.paste(RED, (0, 0, size[0] // 2, size[1]))
    return img.convert(mode)


def encode(img: Image.Image, fmt: str = "JPEG", **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def jpeg_with_everything() -> bytes:
    """A 40x20 JPEG carrying GPS and Orientation=6 in EXIF, XMP, an ICC profile and a comment."""
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    exif[0x010F] = "SecretMake"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (39.0, 54.0, 15.0)
    gps[3], gps[4] = "E", (116.0, 23.0, 30.0)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>phone 13800138000</rdf:RDF></x:xmpmeta>'
    return encode(
        two_tone(),
        exif=exif.tobytes(),
        icc_profile=icc,
        comment=b"owner phone 13800138000",
        xmp=xmp,
        quality=95,
    )


def noise(size: tuple[int, int]) -> Image.Image:
    rnd = random.Random(size[0] * 7919 + size[1])
    return Image.frombytes("RGB", size, rnd.randbytes(size[0] * size[1] * 3))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG declaring `width` x `height` whose pixel data is a few bytes of nothing.

    If it were ever decoded it would be refused as corrupt (400), so a 413 proves the pixel
    count was checked from the header alone.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )
