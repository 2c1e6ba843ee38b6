"""Draw and tabulate an analysed network with the project's graph types and table columns.

Every network goes through here: a user's model and the designs this tool builds (`trace.py`),
so `render.render_graph` draws both the same way: solid identities, dashed shortcuts where the
shape changes, stage clusters named conv2_x... Node ids are the ops' ids (module paths where the
model allows); a block that is a module of its own takes that module's path as its id
("layer2.0", its sum "layer2.0.add").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from inspector.graph import ArchGraph, GraphEdge, GraphNode, NodeMark
from inspector.kinds import EdgeKind, NodeKind, Role, View
from inspector.op_trace import Op, Shape
from inspector.residual import NONE, Block, Structure

if TYPE_CHECKING:
    import pandas as pd

#: The layer table's columns, for designs (`table.layer_table`) and analysed models alike.
LAYER_COLUMNS = ("layer", "type", "kernel", "stride", "groups", "input_shape", "output_shape",
                 "params", "mult_adds", "trainable", "stage", "block", "role")
#: Block view: these layers fold into the layer before them (a conv's BN and ReLU, a flatten).
_FOLLOWERS = (NodeKind.BN, NodeKind.RELU, NodeKind.FLATTEN)


def _shortcut_edge(block: Block, src: str, dst: str, shape: Shape | None,
                   label: str = "") -> GraphEdge:
    """A shortcut edge; one of no named kind is dashed exactly when it changes the shape."""
    return GraphEdge(src, dst, EdgeKind(block.shortcut_kind), shape, label,
                     changes_shape=block.shortcut_shape != block.input_shape)


def _node(op: Op, structure: Structure) -> GraphNode:
    block = structure.block_of.get(op.id)
    if block is not None:
        role = Role.SHORTCUT if op.id in block.shortcut_ops else Role.MAIN
        stage, index = block.stage, block.index
    else:
        role, index = Role(structure.role_of.get(op.id, Role.MAIN)), None
        stage = structure.stage_of.get(op.id)
    return GraphNode(
        op.id, NodeKind(op.kind), op.label, op.module, op.shape, op.params, op.mult_adds, stage,
        index, role, module_type=op.type if op.module else "",
        input_shape=_shape(structure, op.inputs[0]) if op.inputs else None,
        kernel=(op.kernel, op.kernel) if op.kernel else None,
        stride=op.stride if op.kernel else None, groups=op.groups if op.kernel else None,
        trainable=op.params > 0,
    )


def _block_id(block: Block) -> str:
    """The block's module path when the block is a module of its own, else its name."""
    return block.scope or f"block_{block.name}"


def _block_lines(block: Block) -> tuple[str, ...]:
    """The block's main convs in the paper's style, and its attention branch, if any, with the
    parameters it adds (they are not layers of the block)."""
    lines = tuple(block.main_convs)
    if block.attention:
        lines += (f"with {block.attention}, +{block.attention_params:,} params",)
    return lines


def _end(kind: NodeKind, shape: Shape) -> GraphNode:
    """The input or output node."""
    return GraphNode(str(kind), kind, str(kind), None, shape, 0, 0, None, None, Role(str(kind)))


def _shape(structure: Structure, op_id: str) -> Shape:
    return structure.input_shape if op_id == "input" else structure.by_id[op_id].shape


def layer_view(structure: Structure) -> ArchGraph:
    """One node per op; shortcut edges carry their block's kind."""
    nodes = [_end(NodeKind.INPUT, structure.input_shape)]
    edges: list[GraphEdge] = []
    for op in structure.ops:
        nodes.append(_node(op, structure))
        block = structure.block_of.get(op.id)
        for src in op.inputs:
            shape = _shape(structure, src)
            on_shortcut = block is not None and block.shortcut_kind != NONE and (
                op.id in block.shortcut_ops or (op.id == block.add and src == block.tip))
            edges.append(_shortcut_edge(block, src, op.id, shape) if on_shortcut
                         else GraphEdge(src, op.id, EdgeKind.MAIN, shape))
    last = structure.ops[-1]
    nodes.append(_end(NodeKind.OUTPUT, last.shape))
    edges.append(GraphEdge(last.id, "output", EdgeKind.MAIN, last.shape))
    return ArchGraph(View.LAYER, tuple(nodes), tuple(edges))


def block_view(structure: Structure) -> ArchGraph:
    """One node per block plus its sum (a plain block has none); stem, head and layers between
    blocks as ops, a conv's BN and ReLU folded into it."""
    nodes: list[GraphNode] = [_end(NodeKind.INPUT, structure.input_shape)]
    edges: list[GraphEdge] = []
    exit_of: dict[str, str] = {"input": "input"}  # op id -> node id that delivers its tensor
    mergeable = False
    done: set[str] = set()
    for op in structure.ops:
        block = structure.block_of.get(op.id)
        if block is not None:
            body_id = _block_id(block)
            exit_id = body_id if block.shortcut_kind == NONE else f"{body_id}.add"
            if block.name in done:
                exit_of[op.id] = exit_id
                continue
            done.add(block.name)
            entry = exit_of.get(block.entry, "input")
            body = GraphNode(body_id, NodeKind.BLOCK, block.name, block.scope or None,
                             block.main_shape, block.params, block.mult_adds, block.stage,
                             block.index, Role.MAIN, lines=_block_lines(block),
                             input_shape=block.input_shape)
            nodes.append(body)
            edges.append(GraphEdge(entry, body.id, EdgeKind.MAIN, block.input_shape))
            if block.shortcut_kind != NONE:
                relu = block.exit != block.add
                add = GraphNode(exit_id, NodeKind.ADD, "+", None, block.output_shape, 0, 0,
                                block.stage, block.index, Role.MAIN,
                                lines=("ReLU",) if relu else ())
                nodes.append(add)
                edges.append(GraphEdge(body.id, add.id, EdgeKind.MAIN, block.main_shape))
                edges.append(_shortcut_edge(block, entry, add.id, block.shortcut_shape,
                                            block.shortcut_label))
            exit_of[op.id] = exit_id
            mergeable = False
            continue
        sources = [exit_of.get(i, "input") for i in op.inputs]
        if mergeable and op.kind in _FOLLOWERS and sources == [nodes[-1].id]:
            last = nodes[-1]
            title = (last.title if last.kind not in (NodeKind.BN, NodeKind.RELU)
                     else f"{last.title}, {op.label}")
            nodes[-1] = dataclasses.replace(last, title=title, shape=op.shape,
                                            params=last.params + op.params,
                                            mult_adds=last.mult_adds + op.mult_adds)
            exit_of[op.id] = last.id
            continue
        node = _node(op, structure)
        nodes.append(node)
        for src in dict.fromkeys(sources):
            edges.append(GraphEdge(src, node.id, EdgeKind.MAIN, _node_shape(nodes, src)))
        exit_of[op.id] = node.id
        mergeable = True
    last = structure.ops[-1]
    nodes.append(_end(NodeKind.OUTPUT, last.shape))
    edges.append(GraphEdge(exit_of[last.id], "output", EdgeKind.MAIN, last.shape))
    return ArchGraph(View.BLOCK, tuple(nodes), tuple(edges))


def _node_shape(nodes: list[GraphNode], node_id: str) -> Shape | None:
    return next((n.shape for n in reversed(nodes) if n.id == node_id), None)


def layer_rows(structure: Structure) -> list[dict[str, Any]]:
    """One row per op with `table.layer_table`'s columns, as plain values (no pandas: the
    command line prints them without importing it)."""
    rows = []
    for op in structure.ops:
        block = structure.block_of.get(op.id)
        if block is not None:
            stage, name = f"conv{block.stage + 2}_x", block.name
            role = "shortcut" if op.id in block.shortcut_ops else "main"
        else:
            number = structure.stage_of.get(op.id)
            role = structure.role_of.get(op.id, "main")
            stage = {"stem": "conv1", "head": "head"}.get(role) or (
                f"conv{number + 2}_x" if number is not None else "")
            name = ""
        input_shape = _shape(structure, op.inputs[0]) if op.inputs else None
        rows.append({
            "layer": op.module or op.id, "type": op.type,
            "kernel": f"{op.kernel}x{op.kernel}" if op.kernel else "",
            "stride": op.stride if op.kernel else None, "groups": op.groups,
            "input_shape": input_shape, "output_shape": op.shape, "params": op.params,
            "mult_adds": op.mult_adds, "trainable": op.params > 0,
            "stage": stage, "block": name, "role": role,
        })
    return rows


def layer_table(structure: Structure) -> "pd.DataFrame":
    """`layer_rows` as a DataFrame."""
    import pandas as pd

    table = pd.DataFrame(layer_rows(structure), columns=list(LAYER_COLUMNS))
    return table.astype({"stride": "Int64", "groups": "Int64"})


def node_of(graph: ArchGraph, structure: Structure, op_id: str) -> str | None:
    """The node of `graph` that shows op `op_id`: itself in the layer view; in the block view its
    block (the sum and the ReLU after it: the block's sum node), or the layer it was folded into
    (a BN or ReLU into the conv before it). None when the graph does not show it."""
    if graph.view == View.LAYER:
        return op_id if op_id in graph.by_id else None
    block = structure.block_of.get(op_id)
    if block is not None:
        body = _block_id(block)
        on_sum = block.shortcut_kind != NONE and op_id in (block.add, block.exit)
        return f"{body}.add" if on_sum else body
    current = op_id
    while current not in graph.by_id:
        op = structure.by_id.get(current)
        if op is None or not op.inputs:
            return None
        current = op.inputs[0]
    return current


def mark_nodes(graph: ArchGraph, structure: Structure,
               marks: Mapping[str, tuple[NodeMark, ...]]) -> ArchGraph:
    """`graph` with each op's marks (findings, see `inspector.findings`) on the node showing
    it; a node showing several marked ops carries each mark once, most serious first."""
    if not marks:
        return graph
    per_node: dict[str, dict[NodeMark, None]] = {}
    for op_id, op_marks in marks.items():
        node_id = node_of(graph, structure, op_id)
        if node_id is not None:
            per_node.setdefault(node_id, {}).update(dict.fromkeys(op_marks))
    nodes = tuple(
        dataclasses.replace(node, marks=tuple(sorted(
            dict.fromkeys((*node.marks, *per_node[node.id])), key=lambda m: m.severity.rank)))
        if node.id in per_node else node for node in graph.nodes)
    return ArchGraph(graph.view, nodes, graph.edges)
