"""Export: the current design as a diagram, tables, a spec or a standalone PyTorch file."""

from __future__ import annotations

import functools

import streamlit as st

from inspector.codegen import standalone_source
from inspector.spec import ResNetSpec
from inspector.render import dot_available
from inspector.table import to_csv, to_markdown
from pages import common

MIME = {"svg": "image/svg+xml", "png": "image/png", "pdf": "application/pdf",
        "dot": "text/vnd.graphviz"}


@st.cache_data(max_entries=common.CACHE_ENTRIES, show_spinner=False,
               hash_funcs=common.SPEC_HASH)
def source(spec: ResNetSpec) -> str:
    return standalone_source(spec)


def main() -> None:
    spec = common.current_design()
    preset = common.current_preset()
    common.publish_design(spec, preset)  # a reload or a shared link brings this design back
    name = f"{preset}_custom" if common.is_modified(spec, preset) else preset
    st.title("Export")
    st.caption(f"The current design: **{name}** ({common.count(common.facts(spec).params)} "
               "parameters). Change it in the Designer.")

    st.subheader("Graph")
    cols = st.columns(2)
    view = cols[0].radio("View", ("block", "layer"), key="e_view", horizontal=True)
    direction = cols[1].radio("Direction", ("TB", "LR"), key="e_direction", horizontal=True,
                              format_func={"TB": "top-down", "LR": "left-right"}.get)
    formats = ("svg", "png", "pdf", "dot") if dot_available() else ("dot",)
    if not dot_available():
        st.warning("Graphviz's `dot` program is not installed: only DOT source can be exported "
                   "(install Graphviz for SVG, PNG and PDF).")
    cols = st.columns(len(formats))
    for column, fmt in zip(cols, formats):
        # Drawn on click: a PDF of ResNet-1202 should not slow every visit to this page.
        column.download_button(f"Graph as {fmt.upper()}",
                               functools.partial(common.graph_file, spec, view, direction, fmt),
                               f"{name}_{view}.{fmt}", MIME[fmt], key=f"e_graph_{fmt}",
                               width="stretch")

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
