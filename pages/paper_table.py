"""Paper table: the ResNet paper's Table 1 written out for any designs, ready to paste or print."""

from __future__ import annotations

import streamlit as st

from inspector import PRESETS, ResNetSpec, SpecError, get_preset
from inspector.paper_table import MAX_DESIGNS, TableFormat, paper_table, write
from pages import common

CURRENT = "current design (Designer)"
#: The five nets of the paper's Table 1.
PAPER_NETS = ("resnet18", "resnet34", "resnet50_v1", "resnet101", "resnet152")
#: Button label, file suffix and MIME type of each written form.
FILES = {
    TableFormat.MARKDOWN: ("Markdown", "md", "text/markdown"),
    TableFormat.LATEX: ("LaTeX", "tex", "application/x-tex"),
    TableFormat.HTML: ("HTML", "html", "text/html"),
    TableFormat.CSV: ("CSV", "csv", "text/csv"),
}
STYLE = ("<style>.paper-table td, .paper-table th {vertical-align: top; padding: 4px 8px;} "
         ".paper-table td:first-child, .paper-table td:nth-child(2) {white-space: nowrap;} "
         ".paper-table {border-collapse: collapse; font-size: 0.9em;} "
         ".paper-table thead {border-bottom: 1px solid #999;}</style>")


def designs(chosen: list[str]) -> tuple[list[tuple[str, ResNetSpec]], str | None]:
    """(name, spec) for each chosen entry, the Designer's design under its own name, and the
    name of the preset it duplicates when it was left out for that reason (a column that
    repeats another is noise)."""
    presets = [(choice, get_preset(choice)) for choice in chosen if choice != CURRENT]
    out, duplicate = [], None
    for choice in chosen:
        if choice != CURRENT:
            out.append((choice, get_preset(choice)))
            continue
        spec, preset = common.current_design(), common.current_preset()
        duplicate = next((name for name, other in presets if other == spec), None)
        if duplicate is None:
            out.append((common.design_name(spec, preset), spec))
    return out, duplicate


def main() -> None:
    st.title("Paper table")
    st.caption("The layout of Table 1 in He et al. 2015 for any designs: one column each, "
               "cells as the paper writes them, FLOPs as the paper counts them and beside them "
               "the other conventions in use.")
    chosen = st.multiselect("Designs (one column each)", [CURRENT, *PRESETS],
                            default=[CURRENT, *PAPER_NETS], key="p_designs",
                            max_selections=MAX_DESIGNS)
    if not chosen:
        st.info("Choose at least one design.")
        return
    columns, duplicate = designs(chosen)
    if duplicate:
        st.caption(f"The Designer's design is **{duplicate}**, already a column: shown once.")
    try:
        table = paper_table(columns)
    except SpecError as error:
        common.show_error(error)
        return
    st.html(STYLE + '<div style="overflow-x:auto">' + write(table, TableFormat.HTML) + "</div>")
    if not table.shared_sizes:
        st.caption("The designs' output sizes differ, so each has its own output-size column.")
    cols = st.columns(len(FILES))
    for column, (fmt, (label, suffix, mime)) in zip(cols, FILES.items()):
        column.download_button(f"Table as {label}", write(table, fmt), f"paper_table.{suffix}",
                               mime, key=f"p_{fmt.value}", width="stretch")


common.require_navigation()
main()
