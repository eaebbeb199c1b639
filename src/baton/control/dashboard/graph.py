"""Lay out the service graph for the topology page's SVG: callers left, callees right, in layers.

A node's layer is the length of the longest call path reaching it (cycles are cut where they close), so the
gateway sits on the left and the leaves on the right. Coordinates are computed here so the page needs no
layout library.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["NODE_H", "NODE_W", "layout"]

NODE_W = 150
NODE_H = 44
_GAP_X = 90
_GAP_Y = 30
_MARGIN = 24


def _layers(nodes: list[str], edges: Iterable[tuple[str, str]]) -> dict[str, int]:
    outgoing: dict[str, list[str]] = {n: [] for n in nodes}
    for source, target in edges:
        if source != target:
            outgoing.setdefault(source, []).append(target)
    layer = dict.fromkeys(nodes, 0)
    # Longest-path layering by relaxation; at most len(nodes) passes, so a cycle cannot loop forever.
    for _ in range(len(nodes)):
        changed = False
        for source, targets in outgoing.items():
            for target in targets:
                if layer[target] < layer[source] + 1 <= len(nodes) - 1:
                    layer[target] = layer[source] + 1
                    changed = True
        if not changed:
            break
    return layer


def layout(graph: Mapping[str, Any], known: Iterable[str] = ()) -> dict[str, Any]:
    """Positions of ``graph``'s nodes (plus ``known`` services without edges) and paths of its edges.

    Returns ``{"width", "height", "nodes": [{"name", "x", "y", "isolated"}], "edges": [{..., "path", "label_x",
    "label_y"}]}`` in SVG user units.
    """
    names = sorted(set(graph.get("nodes", [])) | set(known))
    edges = list(graph.get("edges", []))
    layer = _layers(names, [(e["source"], e["target"]) for e in edges])
    connected = {e["source"] for e in edges} | {e["target"] for e in edges}
    columns: dict[int, list[str]] = {}
    for name in names:
        columns.setdefault(layer[name], []).append(name)
    positions: dict[str, tuple[float, float]] = {}
    for index, column in sorted(columns.items()):
        for row, name in enumerate(sorted(column)):
            positions[name] = (_MARGIN + index * (NODE_W + _GAP_X), _MARGIN + row * (NODE_H + _GAP_Y))
    width = max((x for x, _ in positions.values()), default=0) + NODE_W + 2 * _MARGIN
    height = max((y for _, y in positions.values()), default=0) + NODE_H + 2 * _MARGIN
    drawn = []
    for edge in edges:
        sx, sy = positions[edge["source"]]
        tx, ty = positions[edge["target"]]
        x1, y1 = sx + NODE_W, sy + NODE_H / 2
        x2, y2 = tx, ty + NODE_H / 2
        if x2 <= x1:  # a call back to an earlier layer: loop under the boxes
            bend = max(sy, ty) + NODE_H + _GAP_Y
            sx2, tx2 = sx + NODE_W / 2, tx + NODE_W / 2
            path = f"M{sx2},{sy + NODE_H} C{sx2},{bend} {tx2},{bend} {tx2},{ty + NODE_H}"
            label = ((sx + tx + NODE_W) / 2, bend - 6)
            height = max(height, bend + _MARGIN)
        else:
            mid = (x1 + x2) / 2
            path = f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"
            label = (mid, (y1 + y2) / 2 - 6)
        drawn.append({**edge, "path": path, "label_x": label[0], "label_y": label[1]})
    return {
        "width": width,
        "height": height,
        "node_w": NODE_W,
        "node_h": NODE_H,
        "nodes": [
            {"name": n, "x": positions[n][0], "y": positions[n][1], "isolated": n not in connected} for n in names
        ],
        "edges": drawn,
    }
