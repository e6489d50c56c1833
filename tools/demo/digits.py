"""Small handwriting-like digit images, drawn locally so the demo needs no download.

Each digit is drawn as seven-segment strokes with a random size, position, slant,
stroke width and wobble, then softened, giving 28 x 28 greyscale PNGs that differ
enough from one another for a small network to have something to learn.
"""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageFilter

SIZE = 28
CLASSES = tuple(str(digit) for digit in range(10))

# Segments a-g of a seven-segment display, as (from, to) corners of the glyph box:
# corners are named by column (l/r) and row (t = top, m = middle, b = bottom).
_SEGMENTS = {
    "a": ("lt", "rt"),
    "b": ("rt", "rm"),
    "c": ("rm", "rb"),
    "d": ("lb", "rb"),
    "e": ("lm", "lb"),
    "f": ("lt", "lm"),
    "g": ("lm", "rm"),
}
_DIGIT_SEGMENTS = {
    "0": "abcdef",
    "1": "bc",
    "2": "abged",
    "3": "abgcd",
    "4": "fgbc",
    "5": "afgcd",
    "6": "afgedc",
    "7": "abc",
    "8": "abcdefg",
    "9": "abcdfg",
}


def draw(label: str, rng: random.Random) -> Image.Image:
    """One greyscale image of the digit ``label`` (``"0"`` to ``"9"``)."""
    width = rng.uniform(8, 13)
    height = rng.uniform(15, 20)
    left = rng.uniform(3, SIZE - 3 - width)
    top = rng.uniform(3, SIZE - 3 - height)
    slant = rng.uniform(-0.25, 0.25)  # horizontal shift per pixel of height

    def corner(name: str) -> tuple[float, float]:
        column, row = name[0], name[1]
        y = top + {"t": 0.0, "m": 0.5, "b": 1.0}[row] * height + rng.uniform(-1, 1)
        x = left + (width if column == "r" else 0.0) + slant * (y - top - height / 2)
        return x + rng.uniform(-1, 1), y

    image = Image.new("L", (SIZE, SIZE), 0)
    pen = ImageDraw.Draw(image)
    stroke = rng.choice((2, 2, 3))
    for segment in _DIGIT_SEGMENTS[label]:
        start, end = _SEGMENTS[segment]
        pen.line([corner(start), corner(end)], fill=rng.randint(190, 255), width=stroke)
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8)))


def png(label: str, rng: random.Random) -> bytes:
    """The PNG file of one drawn digit."""
    buffer = io.BytesIO()
    draw(label, rng).save(buffer, format="PNG")
    return buffer.getvalue()


def dataset(count: int, seed: int = 0) -> list[tuple[str, bytes]]:
    """``count`` labelled PNGs, classes in turn, the same for the same seed."""
    rng = random.Random(seed)
    return [(CLASSES[i % len(CLASSES)], png(CLASSES[i % len(CLASSES)], rng)) for i in range(count)]
