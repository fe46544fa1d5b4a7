"""The data agent's graph as data, and a PNG of it (`GET /api/v1/ai-agent/workflow/png`).

`GRAPH` lists the nodes `parley.agent.graph.DataAgent` reports progress under (its `_notify`
names; a test checks the two agree) and the edges between them, as the module docstring of
`graph.py` draws them. `layout` places them in layers (the longest forward path from the start,
back edges ignored), `render_png` draws that layout with Pillow: no network, no font file (Pillow's
own default font)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

START, END = "__start__", "__end__"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str | None = None  # a conditional edge says when it is taken


@dataclass(frozen=True)
class Graph:
    nodes: tuple[str, ...]
    edges: tuple[Edge, ...]


GRAPH = Graph(
    nodes=(START, "prepare", "retrieve", "generate", "check", "execute", "analyze", "repair")
    + ("save", END),
    edges=(
        Edge(START, "prepare"),
        Edge("prepare", "retrieve"),
        Edge("retrieve", "generate"),
        Edge("generate", "check", "SQL"),
        Edge("generate", "analyze", "no SQL"),
        Edge("check", "execute", "valid"),
        Edge("check", "save", "noExecute"),
        Edge("check", "repair", "error"),
        Edge("execute", "repair", "error"),
        Edge("repair", "check", "fixed SQL"),
        Edge("execute", "analyze", "rows"),
        Edge("analyze", "save"),
        Edge("save", END),
    ),
)

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN, LOOP = 150, 40, 60, 50, 30, 50


@dataclass(frozen=True)
class Box:
    name: str
    x: int
    y: int
    w: int = BOX_W
    h: int = BOX_H


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    boxes: tuple[Box, ...]
    edges: tuple[Edge, ...]

    def box(self, name: str) -> Box:
        return next(b for b in self.boxes if b.name == name)


def layers(graph: Graph) -> dict[str, int]:
    """Each node's layer: the longest path to it from the start over forward edges (an edge
    back to a node already reached, like repair -> check, is a loop and does not count)."""
    known = set(graph.nodes)
    for edge in graph.edges:
        if edge.source not in known or edge.target not in known:
            raise ValueError(f"edge {edge.source} -> {edge.target} names an unknown node")
    depth = {graph.nodes[0]: 0}
    order = {name: i for i, name in enumerate(graph.nodes)}
    for _ in graph.nodes:  # relax: at most one pass per node
        for edge in graph.edges:
            if edge.source in depth and order[edge.target] > order[edge.source]:
                depth[edge.target] = max(depth.get(edge.target, 0), depth[edge.source] + 1)
    for name in graph.nodes:  # a node no forward edge reaches sits on the first row
        depth.setdefault(name, 0)
    return depth


def layout(graph: Graph = GRAPH) -> Layout:
    """Top to bottom, one row per layer, a row's nodes side by side and centred."""
    depth = layers(graph)
    rows: dict[int, list[str]] = {}
    for name in graph.nodes:
        rows.setdefault(depth[name], []).append(name)
    widest = max(len(r) for r in rows.values())
    width = 2 * MARGIN + widest * BOX_W + (widest - 1) * GAP_X + 2 * LOOP
    height = 2 * MARGIN + len(rows) * BOX_H + (len(rows) - 1) * GAP_Y
    boxes = []
    for row, names in sorted(rows.items()):
        row_w = len(names) * BOX_W + (len(names) - 1) * GAP_X
        left = (width - row_w) // 2
        for i, name in enumerate(names):
            boxes.append(Box(name, left + i * (BOX_W + GAP_X), MARGIN + row * (BOX_H + GAP_Y)))
    return Layout(width, height, tuple(boxes), graph.edges)


def render_png(plan: Layout) -> bytes:
    image = Image.new("RGB", (plan.width, plan.height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=13)
    small = ImageFont.load_default(size=10)
    lanes = 0
    for edge in plan.edges:
        a, b = plan.box(edge.source), plan.box(edge.target)
        if b.y > a.y + a.h + GAP_Y:  # skips a row: down a lane on the left of everything
            lanes += 1
            lane = LOOP - 8 * lanes
            above = b.y - 8 - 6 * lanes  # then across, just above the target, and down
            points = [
                (a.x, a.y + a.h // 2),
                (lane, a.y + a.h // 2),
                (lane, above),
                (b.x + b.w // 2, above),
                (b.x + b.w // 2, b.y),
            ]
            draw.line(points, fill="#555555", width=2)
            _arrow(draw, points[-2], points[-1])
            mid = (lane + 3, above - 13)
        elif b.y > a.y:  # to the next row: bottom centre to top centre
            start, end = (a.x + a.w // 2, a.y + a.h), (b.x + b.w // 2, b.y)
            draw.line([start, end], fill="#555555", width=2)
            _arrow(draw, start, end)
            mid = ((start[0] + end[0]) // 2 + 4, (start[1] + end[1]) // 2 - 6)
        else:  # a loop back (or sideways): around the right of both boxes
            right = max(a.x + a.w, b.x + b.w) + LOOP // 2
            points = [
                (a.x + a.w, a.y + a.h // 2),
                (right, a.y + a.h // 2),
                (right, b.y + b.h // 2),
                (b.x + b.w, b.y + b.h // 2),
            ]
            draw.line(points, fill="#aa5500", width=2)
            _arrow(draw, points[-2], points[-1])
            mid = (right + 3, (a.y + b.y) // 2 + a.h // 2)
        if edge.label:
            draw.text(mid, edge.label, fill="#333333", font=small)
    for box in plan.boxes:
        terminal = box.name in (START, END)
        draw.rounded_rectangle(
            [box.x, box.y, box.x + box.w, box.y + box.h],
            radius=18 if terminal else 6,
            fill="#eeeeee" if terminal else "#dde8ff",
            outline="#334477",
            width=2,
        )
        label = box.name.strip("_") if terminal else box.name
        draw.text(
            (box.x + box.w // 2, box.y + box.h // 2), label, fill="black", font=font, anchor="mm"
        )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _arrow(draw: ImageDraw.ImageDraw, start: tuple[int, int], end: tuple[int, int]) -> None:
    """A small arrowhead at `end`, pointing away from `start` (edges here are axis-parallel or
    near vertical, so a head along the dominant axis reads right)."""
    (x0, y0), (x1, y1) = start, end
    if abs(y1 - y0) >= abs(x1 - x0):
        d = 1 if y1 > y0 else -1
        head = [(x1, y1), (x1 - 5, y1 - 9 * d), (x1 + 5, y1 - 9 * d)]
    else:
        d = 1 if x1 > x0 else -1
        head = [(x1, y1), (x1 - 9 * d, y1 - 5), (x1 - 9 * d, y1 + 5)]
    draw.polygon(head, fill="#555555")
