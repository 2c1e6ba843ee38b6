"""What every page shares: the current design, its URL form, cached results and display helpers.

The pages stay thin: each number shown comes from `inspector/`; this module only caches those
results (keyed by the spec's hash, so going back to a design is instant) and formats them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import graphviz
import pandas as pd
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from inspector import PRESETS, Facts, ResNetSpec, SpecError, compute_facts, get_preset
from inspector.compare import Comparison, compare
from inspector.render import dot_available, export_graph, render_graph
from inspector.spec import parse_field
from inspector.formatting import count, megabytes, mult_adds, shape
from inspector.graph import BlockInspection
from inspector.table import SHARE_COLUMNS, header, layer_table, stage_table
from inspector.trace import inspect_block, trace_graph

DEFAULT_PRESET = "resnet50"
SPEC_FIELDS = tuple(f.name for f in dataclasses.fields(ResNetSpec))
#: Above this many nodes an unfolded graph would be a page tens of thousands of pixels tall that
#: the browser struggles to draw; runs of identical blocks are folded instead.
MAX_UNFOLDED_NODES = 700
#: Enough to go back and forth between a few dozen designs without re-computing.
CACHE_ENTRIES = 64


def require_navigation() -> None:
    """Make sure the page runs inside app.py's navigation.

    Streamlit takes a `pages/` folder for its older multipage layout until the entry script has
    called `st.navigation` once. A server whose first visitor opens a shared link such as
    `/designer?preset=resnet50` would then run this page on its own, with a sidebar listing every
    file in `pages/`, for the whole life of the server. Clearing that flag and running again
    executes app.py, which sets up the navigation and lands on the page asked for.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


# ----- the design in the URL ------------------------------------------------------------------


def _text(value: Any) -> str:
    """A field value in the form `parse_field` reads back."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "auto"
    return str(value)


def spec_to_query(spec: ResNetSpec, preset: str) -> dict[str, str]:
    """The preset's name plus only the fields that differ from it, so links stay short."""
    base = get_preset(preset).to_dict()
    query = {"preset": preset}
    for name, value in spec.to_dict().items():
        if value != base[name]:
            query[name] = _text(value)
    return query


def spec_from_query(params: Mapping[str, str]) -> tuple[ResNetSpec, str, list[str]]:
    """(design, preset name, messages) from URL parameters.

    A bad preset or value is reported in `messages` and left out; what remains is still a valid
    design, so a mistyped link opens something rather than nothing.
    """
    messages: list[str] = []
    preset = params.get("preset", DEFAULT_PRESET)
    if preset not in PRESETS:
        messages.append(f"Link: unknown preset {preset!r}; showing {DEFAULT_PRESET} instead.")
        preset = DEFAULT_PRESET
    spec = get_preset(preset)
    values = {}
    for key, text in params.items():
        if key == "preset":
            continue
        if key not in SPEC_FIELDS:
            messages.append(f"Link: ignored unknown parameter {key!r}.")
            continue
        try:
            values[key] = parse_field(key, text)
        except SpecError as error:
            messages.append(f"Link: {error}")
    if values:
        try:
            spec = spec.replace(**values).validate()
        except SpecError as error:
            messages.append(f"Link: {error} Showing the preset {preset} instead.")
    return spec, preset, messages


def ensure_design() -> list[str]:
    """Put a design in the session on a first visit, from the URL when it carries one."""
    if "design" in st.session_state:
        return []
    params = {key: st.query_params[key] for key in st.query_params}
    spec, preset, messages = spec_from_query(params)
    st.session_state["design"] = spec
    st.session_state["design_preset"] = preset
    return messages


def current_design() -> ResNetSpec:
    """The Designer's design, or the default preset before the Designer has run."""
    ensure_design()
    return st.session_state["design"]


def current_preset() -> str:
    ensure_design()
    return st.session_state["design_preset"]


def is_modified(spec: ResNetSpec, preset: str) -> bool:
    """Whether the design differs from the preset it started from."""
    return spec_to_query(spec, preset) != {"preset": preset}


def publish_design(spec: ResNetSpec, preset: str) -> None:
    """Store a valid design in the session and the URL (rewriting the URL only when it changed)."""
    st.session_state["design"] = spec
    st.session_state["design_preset"] = preset
    query = spec_to_query(spec, preset)
    current = {key: st.query_params[key] for key in st.query_params}
    if current != query:
        st.query_params.from_dict(query)


# ----- cached results, keyed by the spec itself ----------------------------------------------
#
# Streamlit hashes a spec through `spec_hash`, so every function takes the design it describes
# (no separate key that could disagree with it). The core keeps per-spec results too; these
# caches add what a page needs on top (drawn SVG, DataFrames) and survive reruns and sessions.
# Results are returned as copies by st.cache_data, so no page can change another's.

SPEC_HASH = {ResNetSpec: ResNetSpec.spec_hash}


@st.cache_data(max_entries=CACHE_ENTRIES, show_spinner=False, hash_funcs=SPEC_HASH)
def facts(spec: ResNetSpec) -> Facts:
    return compute_facts(spec)


@st.cache_data(max_entries=CACHE_ENTRIES, show_spinner="Tracing the layers...",
               hash_funcs=SPEC_HASH)
def layers(spec: ResNetSpec) -> pd.DataFrame:
    return layer_table(spec)


@st.cache_data(max_entries=CACHE_ENTRIES, show_spinner=False, hash_funcs=SPEC_HASH)
def stages(spec: ResNetSpec) -> pd.DataFrame:
    return stage_table(spec, layers(spec))


@st.cache_data(max_entries=CACHE_ENTRIES, show_spinner=False, hash_funcs=SPEC_HASH)
def comparison(a: ResNetSpec, b: ResNetSpec, names: tuple[str, str]) -> Comparison:
    return compare(a, b, names)


@st.cache_data(max_entries=CACHE_ENTRIES, show_spinner=False)
def block_inspection(**kwargs: Any) -> BlockInspection:
    return inspect_block(**kwargs)


@dataclasses.dataclass(frozen=True)
class Drawing:
    """A rendered graph: DOT always, SVG when Graphviz's `dot` is installed."""

    dot: str
    svg: str | None
    note: str | None  # why the drawing differs from what was asked, if it does


def _svg_markup(data: bytes) -> str:
    """The <svg> element alone: the XML prolog and doctype have no place inside a page."""
    text = data.decode()
    return text[text.index("<svg"):]


@st.cache_data(max_entries=CACHE_ENTRIES, show_spinner="Drawing the graph...",
               hash_funcs=SPEC_HASH)
def drawing(spec: ResNetSpec, view: str, direction: str, fold: str) -> Drawing:
    """The network's graph for a view; `fold` is 'auto', 'on' or 'off'."""
    graph = trace_graph(spec, view)
    note = None
    folding: bool | None = {"auto": None, "on": True, "off": False}[fold]
    if folding is False and len(graph.nodes) > MAX_UNFOLDED_NODES:
        folding = True
        note = (f"This {view} graph has {len(graph.nodes):,} nodes, too many to draw unfolded "
                f"(limit {MAX_UNFOLDED_NODES}); runs of identical blocks are folded.")
    return _drawing(render_graph(graph, direction=direction, fold=folding), note)


@st.cache_data(max_entries=CACHE_ENTRIES, show_spinner=False)
def block_drawing(direction: str, **kwargs: Any) -> Drawing:
    """The block that `inspect_block(**kwargs)` traces, drawn."""
    inspection = block_inspection(**kwargs)
    return _drawing(render_graph(inspection.graph, direction=direction, fold=False), None)


def _drawing(digraph: graphviz.Digraph, note: str | None) -> Drawing:
    svg = _svg_markup(export_graph(digraph, "svg")) if dot_available() else None
    return Drawing(digraph.source, svg, note)


def graph_file(spec: ResNetSpec, view: str, direction: str, fmt: str) -> bytes:
    """The graph as a file (DOT, SVG, PNG or PDF), folded as on screen.

    Not cached: the Export page hands it to a download button that calls it on click only.
    """
    digraph = render_graph(trace_graph(spec, view), direction=direction)
    return export_graph(digraph, fmt)


# ----- display --------------------------------------------------------------------------------


def show_drawing(drawing_: Drawing, height: int = 720) -> None:
    """The SVG in a scrolling frame (so a tall network does not push the page away)."""
    if drawing_.note:
        st.warning(drawing_.note)
    if drawing_.svg is None:
        st.info("Graphviz's `dot` program is not installed, so the browser lays the graph out "
                "(install Graphviz for SVG, PNG and PDF export).")
        st.graphviz_chart(drawing_.dot)
        return
    # st.html's sanitiser keeps only HTML elements and would drop the SVG; the graph is our
    # own Graphviz output, so it goes in as markdown with HTML allowed (on one line, since
    # markdown would read blank or indented lines inside it as text).
    svg = drawing_.svg.replace("\n", " ")
    st.markdown(
        f'<div class="resnet-graph" style="overflow:auto; max-height:{height}px; '
        f'border:1px solid #e6e6e6; border-radius:6px; padding:8px; background:white;">'
        f"{svg}</div>",
        unsafe_allow_html=True,
    )


def show_metrics(spec: ResNetSpec) -> Facts:
    """The headline numbers of a valid design in one row."""
    result = facts(spec)
    cols = st.columns(4)
    cols[0].metric("Parameters", count(result.params))
    cols[1].metric("Mult-adds", mult_adds(result.mult_adds),
                   help=f"{count(result.mult_adds)} for one image "
                   "(torchinfo's convention: torchvision's GFLOPS column)")
    cols[2].metric("Depth", str(result.depth), help="Weighted layers on the main path, the number "
                   "in the paper's names")
    cols[3].metric("Activation memory", megabytes(result.activation_bytes),
                   help="float32 layer outputs for one image: roughly what training keeps for "
                   "the backward pass")
    st.caption(f"Depth {result.depth_explanation}. Output {result.output_shape}, receptive field "
               f"{result.receptive_field} px.")
    return result


def _shape_text(value: Any) -> Any:
    return shape(value) if isinstance(value, tuple) else value


def number_table(df: pd.DataFrame, **kwargs: Any) -> None:
    """A dataframe that reads like the paper: human headers, counts with thousands separators,
    shapes as 1x64x56x56, shares as percentages."""
    df = df.copy()
    config: dict[str, Any] = {}
    for column in df.columns:
        name = str(column)
        title = header(name)
        if df[column].dtype == object:
            df[column] = df[column].map(_shape_text)
            config[name] = st.column_config.Column(title)
        elif name in SHARE_COLUMNS:
            config[name] = st.column_config.NumberColumn(title, format="percent")
        elif pd.api.types.is_integer_dtype(df[column]) and df[column].hasnans:
            # A stride or group count that does not apply (a batch norm's) reads as blank.
            df[column] = df[column].map(lambda v: "" if pd.isna(v) else str(v))
            config[name] = st.column_config.Column(title)
        elif name == "ratio":
            config[name] = st.column_config.NumberColumn(title, format="%.3fx")
        elif pd.api.types.is_integer_dtype(df[column]):
            config[name] = st.column_config.NumberColumn(title, format="localized")
        else:
            config[name] = st.column_config.Column(title)
    st.dataframe(df, column_config=config, hide_index=True, **kwargs)
