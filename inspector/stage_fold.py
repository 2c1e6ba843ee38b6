"""Fold whole stages of an `ArchGraph` into one node each, so a reader can close what is read.

Why a separate pass from `render.fold_blocks`: that one keeps the first of a run of identical blocks
(the picture still shows a block); this one replaces a stage, blocks and sums and shortcuts alike,
by a single node that carries the stage's totals, so a 150-layer network reads as a handful of boxes
that open one at a time. The result is an ordinary `ArchGraph`: rendering, overlays and the node
details work on it unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from inspector.spec import stage_name
from inspector.graph import ArchGraph, GraphEdge, GraphNode
from inspector.kinds import EdgeKind, NodeKind, Role

#: The kind and role a folded stage takes: it is drawn like a block and sits on the main path.
FOLDED_KIND = NodeKind.BLOCK
FOLDED_ROLE = Role.MAIN


def stage_module(nodes: list[GraphNode], stage: int) -> str:
    """The stage's module path in the built model ("layer2"), read off its members' paths."""
    for node in nodes:
        if node.module:
            return node.module.split(".", 1)[0]
    return f"stage{stage + 1}"


def stages_of(graph: ArchGraph) -> list[int]:
    """The stages present in the graph, in order."""
    return list(dict.fromkeys(n.stage for n in graph.nodes if n.stage is not None))


def folded_node(stage: int, members: list[GraphNode]) -> GraphNode:
    """One node standing for a whole stage: its totals, its last output and its module path.

    The node has no stage of its own (`stage=None`), so it is drawn outside any stage box and
    no later block fold mistakes it for a block.
    """
    blocks = len({n.block for n in members if n.block is not None})
    noun = "block" if blocks == 1 else "blocks"
    module = stage_module(members, stage)
    return GraphNode(
        id=module, kind=FOLDED_KIND, title=f"{stage_name(stage)} (folded)",
        lines=(f"{blocks} {noun}",),
        module=module, shape=members[-1].shape, params=sum(n.params for n in members),
        mult_adds=sum(n.mult_adds for n in members), stage=None, block=None, role=FOLDED_ROLE)


def fold_stages(graph: ArchGraph, stages: Iterable[int]) -> tuple[ArchGraph, dict[str, int]]:
    """The graph with each stage in `stages` drawn as one node.

    Returns the graph and, for each folded node's id, the stage it stands for (so a viewer can
    unfold it on click). Stages the graph does not have are ignored: a fold chosen for one design
    must not break the drawing of the next. Edges inside a folded stage disappear; an edge into or
    out of it is kept once per pair of ends, the main path winning over a shortcut, so the sum's
    two inputs from the previous stage become one arrow.
    """
    wanted = set(stages) & set(stages_of(graph))
    if not wanted:
        return graph, {}
    members: dict[int, list[GraphNode]] = {}
    for node in graph.nodes:
        if node.stage in wanted:
            members.setdefault(node.stage, []).append(node)
    replacement = {stage: folded_node(stage, nodes) for stage, nodes in members.items()}
    owner = {n.id: replacement[n.stage].id for n in graph.nodes if n.stage in wanted}

    nodes: list[GraphNode] = []
    for node in graph.nodes:
        if node.stage not in wanted:
            nodes.append(node)
        elif node is members[node.stage][0]:
            nodes.append(replacement[node.stage])

    kept: dict[tuple[str, str], GraphEdge] = {}
    for edge in graph.edges:
        src, dst = owner.get(edge.src, edge.src), owner.get(edge.dst, edge.dst)
        if src == dst:
            continue
        moved = dataclasses.replace(edge, src=src, dst=dst)
        if (src, dst) not in kept or (moved.kind == EdgeKind.MAIN
                                      and kept[(src, dst)].kind != EdgeKind.MAIN):
            kept[(src, dst)] = moved
    folded = {node.id: stage for stage, node in replacement.items()}
    return ArchGraph(graph.view, tuple(nodes), tuple(kept.values())), folded
