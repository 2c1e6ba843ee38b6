"""The paper's Table 1 (He et al. 2015) for any designs: one column per design, as readers know it.

Rows are conv1, conv2_x ... convN_x, the pooling and classifier row, then FLOPs. Cells are
written the paper's way ("7x7, 64, stride 2", "[3x3, 64; 3x3, 64] x 2") from the spec's own
geometry (`stem_layers`, `block_convs`), so any design a user builds gets the same treatment as
the published ones. The FLOPs row uses the paper's convention (multiply-adds with the stride on
the bottleneck's first 1x1, v1); rows beside it give the same design under the other common
conventions, because numbers quoted without their convention are the most common confusion.

Output sizes: one "output size" column when every design has the same sizes row by row (the
paper's case); otherwise each design gets its own output-size column beside it.
"""

from __future__ import annotations

import csv
import html
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from inspector.facts import compute_facts
from inspector.spec import (
    SHORTCUT_DESCRIPTIONS, LayerGeometry, ResNetSpec, SpecError, block_convs, stage_name,
)

#: More columns than this no longer fit a page, printed or on screen.
MAX_DESIGNS = 8
POOL_ROW = ""  # the paper leaves the pooling row's layer name blank
FLOPS_ROW = "FLOPs"
TORCHVISION_ROW = "GFLOPS (torchvision)"
TWICE_ROW = "FLOPs (2 x MACs)"


class TableFormat(StrEnum):
    MARKDOWN = "markdown"
    LATEX = "latex"
    HTML = "html"
    CSV = "csv"


@dataclass(frozen=True)
class FlopConventions:
    """One design's compute under the conventions people quote, all in multiply-adds."""

    paper: int  # the paper's: stride on the first 1x1 of a bottleneck (v1)
    torchvision: int  # torchvision's GFLOPS column: torchinfo's count of the v1.5 design
    as_designed: int  # the design with its own stride placement
    without_projections: int  # v1 with parameter-free shortcuts: the paper's 18/34 figures

    @property
    def flops(self) -> int:
        """FLOPs as tools that count a multiply and an add separately print them."""
        return 2 * self.as_designed


@dataclass(frozen=True)
class PaperColumn:
    """One design's column: a cell (a few lines) and an output size per layer row."""

    label: str  # "18-layer" or the design's name
    spec: ResNetSpec
    cells: tuple[tuple[str, ...], ...]  # per layer row; () where the design has no such stage
    sizes: tuple[str, ...]  # per layer row; "" where the design has no such stage
    conventions: FlopConventions
    notes: tuple[str, ...]


@dataclass(frozen=True)
class PaperTable:
    layer_names: tuple[str, ...]  # conv1, conv2_x, ..., then POOL_ROW
    columns: tuple[PaperColumn, ...]

    @property
    def shared_sizes(self) -> bool:
        """Whether one output-size column serves every design (it does for the paper's five)."""
        return len({column.sizes for column in self.columns}) == 1


# ----- cells ------------------------------------------------------------------------------------


def _kernel(size: int) -> str:
    return f"{size}x{size}"


def _stem_conv_text(layer: LayerGeometry) -> str:
    text = f"{_kernel(layer.kernel)}, {layer.out_channels}"
    if layer.stride != 1:
        text += f", stride {layer.stride}"
    if layer.padding != layer.kernel // 2:
        text += f", padding {layer.padding}"
    return text


def _pool_text(layer: LayerGeometry) -> str:
    return f"{_kernel(layer.kernel)} max pool, stride {layer.stride}"


def _stage_text(spec: ResNetSpec, stage: int) -> str:
    """'[1x1, 64; 3x3, 64; 1x1, 256] x 3'; grouped convs as in the ResNeXt paper ('C=32')."""
    plan = next(p for p in spec.blocks() if p.stage == stage)
    convs = []
    for conv in block_convs(spec, plan):
        text = f"{_kernel(conv.kernel)}, {conv.out_channels}"
        if conv.groups > 1:
            text += f", C={conv.groups}"
        convs.append(text)
    text = f"[{'; '.join(convs)}] x {spec.layers[stage]}"
    return f"{text}, pre-act" if spec.preact else text


def _size(pixels: int) -> str:
    return f"{pixels}x{pixels}"


def _stem_rows(spec: ResNetSpec) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """conv1's lines and output size, and the lines (the pools) the paper puts in conv2_x."""
    conv_lines, pool_lines = [], []
    size = conv_size = spec.input_size
    for layer in spec.stem_layers():
        size = layer.output_size(size)
        if layer.kind == "conv":
            conv_lines.append(_stem_conv_text(layer))
            conv_size = size
        else:
            pool_lines.append(_pool_text(layer))
    return tuple(conv_lines), _size(conv_size), tuple(pool_lines)


# ----- numbers and notes ------------------------------------------------------------------------


def flop_conventions(spec: ResNetSpec) -> FlopConventions:
    """The design's multiply-adds under each convention, all from `compute_facts`."""
    v1 = spec.replace(stride_in="1x1")
    return FlopConventions(
        paper=compute_facts(v1).mult_adds,
        torchvision=compute_facts(spec.replace(stride_in="3x3")).mult_adds,
        as_designed=compute_facts(spec).mult_adds,
        # Parameter-free shortcuts add no multiply-adds, so the plain counterpart counts them.
        without_projections=compute_facts(v1.replace(residual=False)).mult_adds,
    )


def scientific(value: int) -> str:
    """'3.6x10^9' as the paper prints FLOPs; smaller nets in powers of a thousand."""
    exponent = 3 * int(math.log10(value) // 3) if value >= 1 else 0
    return f"{value / 10 ** exponent:.1f}x10^{exponent}"


def _downsampling_note(spec: ResNetSpec) -> str:
    strided = [p for p in spec.blocks() if p.stride != 1]
    if not strided:
        return "No block downsamples."
    # The paper's block names (conv3_1): the stage's number, then the block's.
    names = [f"conv{p.stage + 2}_{p.index + 1} (stride {p.stride})" for p in strided]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    if spec.block == "bottleneck":
        where = "the first 1x1 conv (v1)" if spec.stride_in == "1x1" else "the 3x3 conv (v1.5)"
    else:
        where = "the first 3x3 conv"
    return f"Downsampling by {listed}, on {where}."


def _notes(spec: ResNetSpec, conventions: FlopConventions) -> tuple[str, ...]:
    notes = [_downsampling_note(spec)]
    if spec.residual:
        notes.append(f"Shortcuts: option {spec.shortcut}, "
                     f"{SHORTCUT_DESCRIPTIONS[spec.shortcut]}.")
    else:
        notes.append("Plain network: no shortcuts.")
    if spec.preact:
        notes.append("pre-act: BN and ReLU before each conv (He et al. 2016).")
    if spec.groups > 1:
        notes.append(f"C={spec.groups}: grouped 3x3 convs (cardinality, as in ResNeXt).")
    notes.append(
        f"FLOPs: the paper's multiply-adds, stride on the first 1x1 (v1): "
        f"{conventions.paper:,}. torchvision's GFLOPS column (v1.5): "
        f"{conventions.torchvision / 1e9:.2f}. FLOPs as 2 x MACs of this design "
        f"(stride on the {spec.stride_in}): {conventions.flops:,}."
    )
    if spec.block == "basic" and conventions.without_projections != conventions.paper:
        notes.append(
            f"With parameter-free shortcuts (option A, the nets of the paper's Table 2, whose "
            f"count its Table 1 gives for 18 and 34 layers): "
            f"{scientific(conventions.without_projections)} multiply-adds."
        )
    return tuple(notes)


# ----- the table --------------------------------------------------------------------------------


def _labels(designs: Sequence[tuple[str, ResNetSpec]], depths: list[int]) -> list[str]:
    """The paper's '34-layer', unless two designs share a depth: then their own names."""
    labels = [f"{d}-layer" for d in depths]
    if len(set(labels)) != len(labels):
        labels = [name for name, _ in designs]
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return unique


def paper_table(designs: Sequence[tuple[str, ResNetSpec]]) -> PaperTable:
    """Table 1 for `designs` (name, spec); raises SpecError for an invalid one or too many."""
    if not designs:
        raise SpecError("Give at least one design for the table.")
    if len(designs) > MAX_DESIGNS:
        raise SpecError(f"The table takes at most {MAX_DESIGNS} designs, not {len(designs)}.")
    depths = [compute_facts(spec).depth for _, spec in designs]
    stages = max(spec.num_stages for _, spec in designs)
    layer_names = ("conv1", *(stage_name(s) for s in range(stages)), POOL_ROW)
    columns = []
    for label, (_, spec) in zip(_labels(designs, depths), designs):
        stem_lines, stem_size, pool_lines = _stem_rows(spec)
        last_sizes = {p.stage: p.out_size for p in spec.blocks()}
        cells, sizes = [stem_lines], [stem_size]
        for stage in range(stages):
            if stage >= spec.num_stages:
                cells.append(())
                sizes.append("")
                continue
            lead = pool_lines if stage == 0 else ()
            cells.append((*lead, _stage_text(spec, stage)))
            sizes.append(_size(last_sizes[stage]))
        cells.append((f"average pool, {spec.num_classes}-d fc, softmax",))
        sizes.append(_size(1))
        conventions = flop_conventions(spec)
        columns.append(PaperColumn(label, spec, tuple(cells), tuple(sizes), conventions,
                                   _notes(spec, conventions)))
    return PaperTable(layer_names, tuple(columns))


def grid(table: PaperTable) -> tuple[list[str], list[list[tuple[str, ...]]]]:
    """Header and rows of cells (each a tuple of lines), the form every writer starts from."""
    if table.shared_sizes:
        header = ["layer name", "output size", *(c.label for c in table.columns)]
    else:
        header = ["layer name"]
        for column in table.columns:
            header += [f"output size ({column.label})", column.label]
    rows: list[list[tuple[str, ...]]] = []
    for position, name in enumerate(table.layer_names):
        row = [(name,) if name else ()]
        if table.shared_sizes:
            row.append((table.columns[0].sizes[position],))
        for column in table.columns:
            if not table.shared_sizes:
                row.append((column.sizes[position],) if column.sizes[position] else ())
            row.append(column.cells[position])
        rows.append(row)
    figures = (
        (FLOPS_ROW, lambda c: scientific(c.conventions.paper)),
        (TORCHVISION_ROW, lambda c: f"{c.conventions.torchvision / 1e9:.2f}"),
        (TWICE_ROW, lambda c: scientific(c.conventions.flops)),
    )
    for name, text in figures:
        row = [(name,)] + ([()] if table.shared_sizes else [])
        for column in table.columns:
            row += ([] if table.shared_sizes else [()]) + [(text(column),)]
        rows.append(row)
    return header, rows


def notes(table: PaperTable) -> list[str]:
    """Footnotes: what each column's cells and figures mean, a note shared by several columns
    written once with all their labels."""
    owners: dict[str, list[str]] = {}
    for column in table.columns:
        for note in column.notes:
            owners.setdefault(note, []).append(column.label)
    return [f"{', '.join(labels)}: {note}" for note, labels in owners.items()]


# ----- writers ----------------------------------------------------------------------------------


def to_markdown(table: PaperTable) -> str:
    header, rows = grid(table)

    def cell(lines: tuple[str, ...]) -> str:
        return "<br>".join(html.escape(line, quote=False).replace("|", "\\|") for line in lines)

    out = ["| " + " | ".join(cell((h,)) for h in header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    out += [""] + [f"- {html.escape(note, quote=False)}" for note in notes(table)]
    return "\n".join(out) + "\n"


def to_csv(table: PaperTable) -> str:
    """Cells with several lines keep them as line breaks inside one quoted field."""
    header, rows = grid(table)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["\n".join(c) for c in row] for row in rows)
    return buffer.getvalue()


_HTML_POWER = re.compile(r"x10\^(\d+)")


def to_html(table: PaperTable) -> str:
    """A standalone <table> (with its notes) that pastes into a page or a document."""
    header, rows = grid(table)

    def cell(lines: tuple[str, ...]) -> str:
        escaped = [html.escape(line) for line in lines]
        return "<br>".join(_HTML_POWER.sub(r"&times;10<sup>\1</sup>", e) for e in escaped)

    out = ['<table class="paper-table">', "<thead><tr>"]
    out += [f"<th>{html.escape(h)}</th>" for h in header]
    out += ["</tr></thead>", "<tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>")
    out += ["</tbody>", "</table>", "<ul>"]
    out += [f"<li>{html.escape(note)}</li>" for note in notes(table)]
    out.append("</ul>")
    return "\n".join(out) + "\n"


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}",
}
_LATEX_DIMENSION = re.compile(r"\b(\d+)x(\d+)\b")
_LATEX_POWER = re.compile(r"(\d)x10\\textasciicircum\{\}(\d+)")


def latex_escape(text: str) -> str:
    """Plain text made safe for LaTeX: its special characters written as commands."""
    return "".join(_LATEX_SPECIALS.get(char, char) for char in text)


def _latex_line(text: str) -> str:
    escaped = _LATEX_POWER.sub(r"\1$\\times10^{\2}$", latex_escape(text))
    escaped = _LATEX_DIMENSION.sub(r"\1$\\times$\2", escaped)
    return escaped.replace("] x ", r"] $\times$ ")


def _latex_cell(lines: tuple[str, ...]) -> str:
    if len(lines) <= 1:
        return _latex_line(lines[0]) if lines else ""
    # `\relax` ends the line break's argument: a line may begin with "[" (a stage's bracket),
    # which `\\` would otherwise read as an optional length.
    inner = r" \\ \relax ".join(_latex_line(line) for line in lines)
    return rf"\begin{{tabular}}[t]{{@{{}}l@{{}}}}{inner}\end{{tabular}}"


def to_latex(table: PaperTable) -> str:
    """A `tabular` with its notes; needs no package beyond LaTeX itself."""
    header, rows = grid(table)
    out = [r"\begin{tabular}{" + "l" * len(header) + "}", r"\hline"]
    out.append(" & ".join(latex_escape(h) for h in header) + r" \\")
    out.append(r"\hline")
    out += [" & ".join(_latex_cell(c) for c in row) + r" \\" for row in rows]
    out += [r"\hline", r"\end{tabular}", ""]
    out += [r"\noindent " + _latex_line(note) + r"\par" for note in notes(table)]
    return "\n".join(out) + "\n"


WRITERS = {
    TableFormat.MARKDOWN: to_markdown,
    TableFormat.LATEX: to_latex,
    TableFormat.HTML: to_html,
    TableFormat.CSV: to_csv,
}


def write(table: PaperTable, fmt: TableFormat | str) -> str:
    """The table in one of `TableFormat`'s forms; an unknown name raises SpecError."""
    try:
        writer = WRITERS[TableFormat(fmt)]
    except ValueError:
        options = ", ".join(f.value for f in TableFormat)
        raise SpecError(f"The table format must be one of {options}, not {fmt!r}.") from None
    return writer(table)
