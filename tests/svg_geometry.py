"""Positions read out of Graphviz's SVG, to test what a reader sees: where titles, edges and
texts land.

Text boxes are estimated from the font size (Helvetica averages about 0.55 em per character; 0.6 is
used, so boxes err on the large side) because SVG text carries no width.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

SVG = "{http://www.w3.org/2000/svg}"
CHAR_EM = 0.6


@dataclass(frozen=True)
class Box:
    left: float
    top: float
    right: float
    bottom: float

    def contains(self, x: float, y: float) -> bool:
        return self.left <= x <= self.right and self.top <= y <= self.bottom

    def overlaps(self, other: Box) -> bool:
        return (self.left < other.right and other.left < self.right
                and self.top < other.bottom and other.top < self.bottom)


def text_box(text: ET.Element) -> Box:
    size = float(text.get("font-size", "14"))
    x, y = float(text.get("x")), float(text.get("y"))
    width = len("".join(text.itertext())) * size * CHAR_EM
    anchor = text.get("text-anchor", "start")
    left = {"middle": x - width / 2, "end": x - width}.get(anchor, x)
    return Box(left, y - size, left + width, y + 0.3 * size)


def _numbers(d: str) -> list[tuple[float, float]]:
    values = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", d)]
    return list(zip(values[::2], values[1::2]))


def path_points(d: str, samples: int = 24) -> list[tuple[float, float]]:
    """Points along a Graphviz edge path ("M p0 C p1 p2 p3 p4 p5 p6 ..."), sampled on each cubic."""
    points = _numbers(d)
    out = [points[0]]
    for i in range(1, len(points) - 2, 3):
        p0, p1, p2, p3 = points[i - 1], points[i], points[i + 1], points[i + 2]
        for k in range(1, samples + 1):
            t = k / samples
            a, b, c, e = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t ** 2, t ** 3
            out.append((a * p0[0] + b * p1[0] + c * p2[0] + e * p3[0],
                        a * p0[1] + b * p1[1] + c * p2[1] + e * p3[1]))
    return out


def _groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if cls in (g.get("class") or "").split()]


def text_boxes_by_id(svg: str, id_prefix: str) -> dict[str, list[Box]]:
    """The text boxes of each group whose element id starts with `id_prefix`."""
    root = ET.fromstring(svg)
    return {g.get("id"): [text_box(t) for t in g.iter(f"{SVG}text")]
            for g in root.iter(f"{SVG}g") if (g.get("id") or "").startswith(id_prefix)}


def edges(svg: str, id_prefix: str = "") -> dict[str, tuple[list[tuple[float, float]], list[Box]]]:
    """Edges whose element id starts with `id_prefix`: their sampled path points and label
    boxes, by their title."""
    root = ET.fromstring(svg)
    out = {}
    for g in _groups(root, "edge"):
        if not (g.get("id") or "").startswith(id_prefix):
            continue
        path = g.find(f".//{SVG}path")
        out[g.find(f"{SVG}title").text] = (path_points(path.get("d")),
                                           [text_box(t) for t in g.iter(f"{SVG}text")])
    return out


def all_text_boxes(svg: str) -> list[tuple[str, Box]]:
    root = ET.fromstring(svg)
    return [("".join(t.itertext()), text_box(t)) for t in root.iter(f"{SVG}text")]


def view_box(svg: str) -> Box:
    """The drawing's visible area in the coordinates of its content (Graphviz translates the
    content by the viewBox height, so y runs negative)."""
    root = ET.fromstring(svg)
    x, y, w, h = (float(v) for v in root.get("viewBox").split())
    graph = root.find(f"{SVG}g")
    tx, ty = (float(v) for v in re.search(r"translate\(([-\d.]+)[ ,]([-\d.]+)\)",
                                          graph.get("transform")).groups())
    return Box(x - tx, y - ty, x + w - tx, y + h - ty)


def element_ids(svg: str) -> set[str]:
    """Every element id, unescaped (Graphviz writes '-' as '&#45;')."""
    return {e.get("id") for e in ET.fromstring(svg).iter() if e.get("id")}
