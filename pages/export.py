"""Export: the current design as a diagram, tables, a spec or a standalone PyTorch file."""

from __future__ import annotations

import functools
import re

import streamlit as st

from inspector.codegen import standalone_source
from inspector.kinds import GraphFormat
from inspector.render import DEFAULT_DPI, dot_available
from inspector.spec import ResNetSpec
from inspector.table import to_csv, to_markdown
from pages import common

#: Screen (72-150), print (200-300) and poster (600) resolutions.
DPI_CHOICES = (72, 100, 150, 200, 300, 600)
#: Cairo's limit for one side of a bitmap; Graphviz shrinks larger drawings to fit it.
MAX_BITMAP_SIDE = 32767
_SVG_SIZE = re.compile(r'<svg width="([0-9.]+)pt" height="([0-9.]+)pt"')
#: The graph's files in the order of their buttons: drawings first, then their source.
GRAPH_FORMATS = (GraphFormat.SVG, GraphFormat.PNG, GraphFormat.PDF, GraphFormat.DOT)
VIEW_KEY, DIRECTION_KEY, FOLD_KEY, DPI_KEY = "e_view", "e_direction", "e_fold", "e_dpi"
PREVIEW_KEY = "export_preview"
#: The graph's controls, by the ViewState field each sets.
CONTROLS = {"view": VIEW_KEY, "direction": DIRECTION_KEY, "fold": FOLD_KEY}


@st.cache_data(max_entries=common.CACHE_ENTRIES, show_spinner=False,
               hash_funcs=common.SPEC_HASH)
def source(spec: ResNetSpec) -> str:
    return standalone_source(spec)


def png_size(svg: str, dpi: int) -> tuple[int, int] | None:
    """The PNG's pixels at `dpi`, from the drawing's size in points (1/72 inch)."""
    match = _SVG_SIZE.search(svg)
    if match is None:
        return None
    return tuple(round(float(points) * dpi / 72) for points in match.groups())  # type: ignore


def main() -> None:
    messages = common.view_state_from_link(CONTROLS)
    spec = common.current_design()
    preset = common.current_preset()
    state = common.current_view_state(CONTROLS, PREVIEW_KEY, spec.spec_hash())
    # A reload or a shared link brings this design and picture back.
    common.publish_design(spec, preset, state)
    name = f"{preset}_custom" if common.is_modified(spec, preset) else preset  # a file name
    st.title("Export")
    for message in messages:
        common.show_error(message)
    st.caption(f"The current design: **{name}** ({common.count(common.facts(spec).params)} "
               "parameters). Change it in the Designer.")

    st.subheader("Graph")
    cols = st.columns(4)
    view = common.view_choice(VIEW_KEY, cols[0])
    common.direction_choice(DIRECTION_KEY, cols[1])
    common.fold_choice(FOLD_KEY, cols[2], help="As in the Designer: a run of identical "
                                               "blocks drawn once, 'x N'.")
    dpi = cols[3].select_slider("PNG resolution (dpi)", DPI_CHOICES, value=DEFAULT_DPI,
                                key=DPI_KEY)
    drawn = state.replace(search="")
    formats = [fmt for fmt in GRAPH_FORMATS if dot_available() or not fmt.needs_dot]
    if not dot_available():
        st.warning("Graphviz's `dot` program is not installed: only DOT source can be exported "
                   "(install Graphviz for SVG, PNG and PDF).")
    cols = st.columns(len(formats))
    for column, fmt in zip(cols, formats):
        # Drawn on click: a PDF of ResNet-1202 should not slow every visit to this page.
        column.download_button(f"Graph as {fmt.upper()}",
                               functools.partial(common.graph_file, spec, drawn, fmt, dpi),
                               f"{name}_{view}.{fmt}", fmt.media_type,
                               key=f"e_graph_{fmt}", width="stretch")
    preview = common.drawing(spec, drawn)
    size = png_size(preview.svg, dpi) if preview.svg else None
    with st.expander("Preview: the files hold this drawing, with its folded stages and "
                     "colours", expanded=True):
        if size:
            scaled = (" Graphviz scales a bitmap down to fit 32,767 pixels a side, so use SVG "
                      "or PDF for this one." if max(size) > MAX_BITMAP_SIDE else "")
            st.caption(f"PNG at {dpi} dpi: about {size[0]:,} x {size[1]:,} pixels.{scaled} SVG "
                       "and PDF keep the text as text, for any print size.")
        common.show_drawing(preview, key=PREVIEW_KEY, graph_key=spec.spec_hash(), height=600,
                            reports=True, search=state.search)

    st.subheader("Tables")
    stages = common.stages(spec)
    layers = common.layers(spec)
    cols = st.columns(3)
    cols[0].download_button("Stages as CSV", to_csv(stages), f"{name}_stages.csv", "text/csv",
                            key="e_stages_csv", width="stretch")
    cols[1].download_button("Layers as CSV", to_csv(layers), f"{name}_layers.csv", "text/csv",
                            key="e_layers_csv", width="stretch")
    cols[2].download_button("Stages as Markdown", to_markdown(stages), f"{name}_stages.md",
                            "text/markdown", key="e_stages_md", width="stretch")

    st.subheader("Design")
    cols = st.columns(2)
    cols[0].download_button("Spec as JSON", spec.to_json(), f"{name}.json", "application/json",
                            key="e_json", width="stretch")
    code = source(spec)
    cols[1].download_button("Standalone PyTorch file", code, f"{name}.py", "text/x-python",
                            key="e_python", width="stretch",
                            help="Defines the network with torch alone; run it to print the "
                                 "parameter count and output shape.")
    with st.expander("Spec (JSON)"):
        st.code(spec.to_json(), language="json")
    with st.expander("Standalone PyTorch file"):
        st.code(code, language="python")


common.require_navigation()
main()
