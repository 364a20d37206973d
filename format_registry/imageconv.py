"""``python -m format_registry.imageconv INPUT OUTPUT TIFF|JPEG``: image conversion with Pillow.

Run as a subprocess by the normalisation step (like every other tool) so that a hostile or
huge image is bounded by the tool timeout and cannot take the ingest process down with it.
"""

from __future__ import annotations

import sys

from PIL import Image, ImageOps

Image.MAX_IMAGE_PIXELS = 40_000 * 40_000  # decompression-bomb guard, generous for archival scans


def convert(source: str, target: str, fmt: str) -> None:
    with Image.open(source) as image:
        image.load()
        frame = ImageOps.exif_transpose(image) or image
        if fmt == "JPEG":
            if frame.mode not in ("RGB", "L"):
                frame = frame.convert("RGB")
            frame.save(target, "JPEG", quality=90, optimize=True)
        elif fmt == "TIFF":
            if frame.mode == "P":
                frame = frame.convert("RGBA" if "transparency" in frame.info else "RGB")
            frame.save(target, "TIFF", compression="tiff_lzw")
        else:
            raise SystemExit(f"unsupported target format {fmt}")


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m format_registry.imageconv INPUT OUTPUT TIFF|JPEG", file=sys.stderr)
        return 2
    convert(*argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
