"""Draw and tabulate an analysed network with the project's graph types and table columns.

The graphs use the same node kinds, roles, edge kinds and ids conventions as `trace.py`, so
`render.render_graph` draws a user's network exactly as it draws a preset: solid identities,
dashed shortcuts where the shape changes, stage clusters named conv2_x...
"""

from __future__ import annotations

import pandas as pd

from inspector.op_trace import Op, Shape
from inspector.residual import OTHER, Block, Structure
from inspector.table import LAYER_COLUMNS
from inspector.trace import ArchGraph, GraphEdge, GraphNode, DASHED_KINDS

#: Block view: these layers fold into the layer before them (a conv's BN and ReLU, a flatten).
_FOLLOWERS = ("bn", "relu", "flatten")


class ShortcutEdge(GraphEdge):
    """A shortcut edge; an "other" shortcut (none of the paper's options) is dashed exactly
    when it changes the shape, the named kinds keep their rule."""

    def __init__(self, *args, changes_shape: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        object.__setattr__(self, "_changes_shape", changes_shape)

    @property
    def dashed(self) -> bool:
        return self._changes_shape if self.kind == OTHER else self.kind in DASHED_KINDS


def _shortcut_edge(block: Block, src: str, dst: str, shape: Shape | None,
                   label: str = "") -> GraphEdge:
    return ShortcutEdge(src, dst, block.shortcut_kind, shape, label,
                        changes_shape=block.shortcut_shape != block.input_shape)


def _node(op: Op, structure: Structure) -> GraphNode:
    block = structure.block_of.get(op.id)
    if block is not None:
        role = "shortcut" if op.id in block.shortcut_ops else "main"
        return GraphNode(op.id, op.kind, op.label, op.module, op.shape, op.params, op.mult_adds,
                         block.stage, block.index, role)
    return GraphNode(op.id, op.kind, op.label, op.module, op.shape, op.params, op.mult_adds,
                     None, None, structure.role_of.get(op.id, "main"))


def _shape(structure: Structure, op_id: str) -> Shape:
    return structure.input_shape if op_id == "input" else structure.by_id[op_id].shape


def layer_view(structure: Structure) -> ArchGraph:
    """One node per op; shortcut edges carry their block's kind."""
    nodes = [GraphNode("input", "input", "input", None, structure.input_shape, 0, 0, None, None,
                       "input")]
    edges: list[GraphEdge] = []
    for op in structure.ops:
        nodes.append(_node(op, structure))
        block = structure.block_of.get(op.id)
        for src in op.inputs:
            shape = _shape(structure, src)
            on_shortcut = block is not None and (
                op.id in block.shortcut_ops or (op.id == block.add and src == block.tip))
            edges.append(_shortcut_edge(block, src, op.id, shape) if on_shortcut
                         else GraphEdge(src, op.id, "main", shape))
    last = structure.ops[-1]
    nodes.append(GraphNode("output", "output", "output", None, last.shape, 0, 0, None, None,
                           "output"))
    edges.append(GraphEdge(last.id, "output", "main", last.shape))
    return ArchGraph("layer", tuple(nodes), tuple(edges))


def _block_label(block: Block) -> str:
    return "\n".join((block.name,) + block.main_convs)


def block_view(structure: Structure) -> ArchGraph:
    """One node per residual block plus its sum; stem, head and layers between blocks as ops."""
    nodes: list[GraphNode] = [GraphNode("input", "input", "input", None, structure.input_shape,
                                        0, 0, None, None, "input")]
    edges: list[GraphEdge] = []
    exit_of: dict[str, str] = {"input": "input"}  # op id -> node id that delivers its tensor
    mergeable = False
    done: set[str] = set()
    for op in structure.ops:
        block = structure.block_of.get(op.id)
        if block is not None:
            if block.name in done:
                exit_of[op.id] = f"block_{block.name}.add"
                continue
            done.add(block.name)
            entry = exit_of.get(block.fork, "input")
            body = GraphNode(f"block_{block.name}", "block", _block_label(block), None,
                             block.main_shape, block.params, block.mult_adds, block.stage,
                             block.index, "main")
            relu = block.exit != block.add
            add = GraphNode(f"block_{block.name}.add", "add", "+ ReLU" if relu else "+", None,
                            block.output_shape, 0, 0, block.stage, block.index, "main")
            nodes += [body, add]
            edges.append(GraphEdge(entry, body.id, "main", block.input_shape))
            edges.append(GraphEdge(body.id, add.id, "main", block.main_shape))
            edges.append(_shortcut_edge(block, entry, add.id, block.shortcut_shape,
                                        block.shortcut_label))
            exit_of[op.id] = add.id
            mergeable = False
            continue
        sources = [exit_of.get(i, "input") for i in op.inputs]
        if mergeable and op.kind in _FOLLOWERS and sources == [nodes[-1].id]:
            last = nodes[-1]
            label = last.label if last.kind not in ("bn", "relu") else f"{last.label}, {op.label}"
            nodes[-1] = GraphNode(last.id, last.kind, label, last.module, op.shape,
                                  last.params + op.params, last.mult_adds + op.mult_adds,
                                  None, None, last.role)
            exit_of[op.id] = last.id
            continue
        node = _node(op, structure)
        nodes.append(node)
        for src in dict.fromkeys(sources):
            edges.append(GraphEdge(src, node.id, "main", _node_shape(nodes, src)))
        exit_of[op.id] = node.id
        mergeable = True
    last = structure.ops[-1]
    nodes.append(GraphNode("output", "output", "output", None, last.shape, 0, 0, None, None,
                           "output"))
    edges.append(GraphEdge(exit_of[last.id], "output", "main", last.shape))
    return ArchGraph("block", tuple(nodes), tuple(edges))


def _node_shape(nodes: list[GraphNode], node_id: str) -> Shape | None:
    return next((n.shape for n in reversed(nodes) if n.id == node_id), None)


def layer_table(structure: Structure) -> pd.DataFrame:
    """One row per op with `table.layer_table`'s columns."""
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
    table = pd.DataFrame(rows, columns=list(LAYER_COLUMNS))
    return table.astype({"stride": "Int64", "groups": "Int64"})
