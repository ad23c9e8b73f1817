"""The floor-plan map: zones with occupancy, receivers, survey points, tags and their trail.

One drawing for the integration's image entity and the lab's `ble-rtls render`. Pillow (shipped with
Home Assistant) draws it; no Home Assistant import, so a replay renders the same picture.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageFont

from .site import Site
from .walls import room_walls

MAX_SIDE_PX = 1000
MARGIN_PX = 40
ZONE_COLOURS = ((222, 235, 247), (229, 245, 224), (254, 230, 206), (239, 237, 245), (255, 247, 188))
TAG_COLOUR = (3, 110, 200)
SURVEY_COLOUR = (46, 139, 87)
INK = (40, 40, 40)
WALL_WIDTH_PX = 4


@dataclass(frozen=True, slots=True)
class TagMark:
    """A tag on the map: where, how sure (1-sigma metres), and where it was before."""

    name: str
    x: float
    y: float
    accuracy: float
    trail: Sequence[tuple[float, float]] = field(default_factory=tuple)


def render_map(
    site: Site,
    floor: int,
    tags: Iterable[TagMark],
    occupancy: dict[str, int] | None = None,
    title: str = "",
) -> bytes:
    """PNG of one floor: +y points up, as on a plan."""
    (lo_x, lo_y), (hi_x, hi_y) = site.bounds(floor)
    scale = (MAX_SIDE_PX - 2 * MARGIN_PX) / max(hi_x - lo_x, hi_y - lo_y, 1.0)
    width = round((hi_x - lo_x) * scale) + 2 * MARGIN_PX
    height = round((hi_y - lo_y) * scale) + 2 * MARGIN_PX

    def px(x: float, y: float) -> tuple[float, float]:
        return MARGIN_PX + (x - lo_x) * scale, height - MARGIN_PX - (y - lo_y) * scale

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image, "RGBA")
    font = ImageFont.load_default()
    draw.rectangle((*px(lo_x, hi_y), *px(hi_x, lo_y)), outline=(150, 150, 150), width=2)
    for index, zone in enumerate(z for z in site.zones if z.floor == floor):
        points = [px(x, y) for x, y in zone.polygon]
        draw.polygon(points, fill=ZONE_COLOURS[index % len(ZONE_COLOURS)], outline=INK)
        cx = sum(p[0] for p in points) / len(points)
        cy = sum(p[1] for p in points) / len(points)
        label = zone.name
        if occupancy is not None:
            label += f" ({occupancy.get(zone.id, 0)})"
        draw.text((cx, cy), label, fill=INK, font=font, anchor="mm")
    for start, end in room_walls(site.zones).get(floor, []):  # the walls the engine counts
        draw.line([px(*start), px(*end)], fill=INK, width=WALL_WIDTH_PX)
    for receiver in (r for r in site.receivers if r.floor == floor):
        x, y = px(receiver.x, receiver.y)
        draw.rectangle((x - 5, y - 5, x + 5, y + 5), fill=(90, 90, 90))
    for point in (p for p in site.survey if p.floor == floor):  # where the site was surveyed
        x, y = px(point.x, point.y)
        draw.line((x - 5, y, x + 5, y), fill=SURVEY_COLOUR, width=2)
        draw.line((x, y - 5, x, y + 5), fill=SURVEY_COLOUR, width=2)
    for tag in tags:
        trail = [px(x, y) for x, y in (*tag.trail, (tag.x, tag.y))]
        if len(trail) > 1:
            draw.line(trail, fill=(*TAG_COLOUR, 120), width=2)
        x, y = px(tag.x, tag.y)
        radius = max(tag.accuracy * scale, 4.0)
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=(*TAG_COLOUR, 28))
        draw.ellipse((x - 5, y - 5, x + 5, y + 5), fill=TAG_COLOUR)
        draw.text((x + 8, y - 8), tag.name, fill=INK, font=font)
    if title:
        draw.text((MARGIN_PX, MARGIN_PX / 2), title, fill=INK, font=font, anchor="lm")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()
