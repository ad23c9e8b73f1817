"""Draw the integration's brand icons (HA 2026.3+ and HACS read custom_components/*/brand/).

Run: .venv/bin/python scripts/brand_icons.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).parents[1] / "custom_components" / "ble_rtls" / "brand"
BLUE, WHITE = (3, 110, 200, 255), (255, 255, 255, 255)


def icon(size: int) -> Image.Image:
    """A location pin with three radio arcs on a rounded blue square."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    unit = size / 16
    draw.rounded_rectangle((0, 0, size - 1, size - 1), radius=3 * unit, fill=BLUE)
    cx, cy = 8 * unit, 7 * unit
    draw.ellipse((cx - 2.6 * unit, cy - 2.6 * unit, cx + 2.6 * unit, cy + 2.6 * unit), fill=WHITE)
    draw.polygon(
        [(cx - 2.2 * unit, cy + 1.3 * unit), (cx + 2.2 * unit, cy + 1.3 * unit), (cx, 13.5 * unit)],
        fill=WHITE,
    )
    draw.ellipse((cx - unit, cy - unit, cx + unit, cy + unit), fill=BLUE)
    for radius in (4.2, 5.6):
        box = (cx - radius * unit, cy - radius * unit, cx + radius * unit, cy + radius * unit)
        draw.arc(box, 220, 320, fill=WHITE, width=max(2, round(0.55 * unit)))
    return image


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    icon(256).save(OUT / "icon.png")
    icon(512).save(OUT / "icon@2x.png")
