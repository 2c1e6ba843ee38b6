"""What every page shares: the current design, its URL form, cached results and display helpers.

The pages stay thin: each number shown comes from `inspector/`; this module only caches those
results (keyed by the spec's hash, so going back to a design is instant) and formats them.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
import string
from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from inspector import PRESETS, Facts, ResNetSpec, SpecError, compute_facts, get_preset
from inspector.compare import Comparison, compare
from inspector.formatting import count, megabytes, mult_adds, shape
from inspector.diff import summary
from inspector.drawing import (MAX_SEARCH, VIEW_PARAMS, Drawing, ViewState, draw_analysis,
                               draw_design, draw_diff, draw_graph)
from inspector.graph import BlockInspection
from inspector.kinds import BlockKind, Direction, Fold, GraphFormat, View
from inspector.overlay import Measure
from inspector.render import DEFAULT_DPI
from inspector.spec import SHORTCUT_DESCRIPTIONS, parse_field, quote
from inspector.table import SHARE_COLUMNS, header, layer_table, stage_table
from inspector.trace import inspect_block
from pages import graph_viewer

DEFAULT_PRESET = "resnet50"

# Session state that more than one page reads; each page defines its own keys at its top.
#: The Designer's design (always a valid ResNetSpec) and the preset it started from.
DESIGN_KEY = "design"
DESIGN_PRESET_KEY = "design_preset"
#: The Train page's runs (list[TrainingRun]); the Inference page offers their models.
TRAIN_RUNS_KEY = "train_runs"

#: The address parameter that names the preset a design starts from; the others are its fields.
PRESET_PARAM = "preset"
#: The Compare page keeps its two designs in the address under these prefixes (a.layers=...).
COMPARE_PREFIXES = {"A": "a.", "B": "b."}
SPEC_FIELDS = tuple(f.name for f in dataclasses.fields(ResNetSpec))
#: Enough to go back and forth between a few dozen designs without re-computing.
CACHE_ENTRIES = 64
#: Unknown link parameters named in the one message about them; the rest are counted.
MAX_NAMED_PARAMETERS = 5


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


def spec_to_query(spec: ResNetSpec, preset: str, prefix: str = "") -> dict[str, str]:
    """The preset's name plus only the fields that differ from it, so links stay short.

    `prefix` (e.g. 'a.') lets one URL carry several designs, as the Compare page's does.
    """
    base = get_preset(preset).to_dict()
    query = {f"{prefix}{PRESET_PARAM}": preset}
    for name, value in spec.to_dict().items():
        if value != base[name] and not (name == "stride_in" and spec.block == BlockKind.BASIC):
            query[f"{prefix}{name}"] = _text(value)
    return query


def spec_from_query(params: Mapping[str, str], prefix: str = "",
                    default: str = DEFAULT_PRESET) -> tuple[ResNetSpec, str, list[str]]:
    """(design, preset name, messages) from URL parameters.

    A bad preset or value is reported in `messages` and left out; what remains is still a valid
    design, so a mistyped link opens something rather than nothing. Only keys under `prefix`
    are read; without one, the keys of the Compare page's two designs are left to that page.
    """
    others = () if prefix else tuple(COMPARE_PREFIXES.values())
    params = {key[len(prefix):]: value for key, value in params.items()
              if key.startswith(prefix) and not key.startswith(others)}
    messages: list[str] = []
    preset = params.get(PRESET_PARAM, default)
    if preset not in PRESETS:
        messages.append(f"Link: unknown preset {quote(preset)}; showing {default} instead.")
        preset = default
    spec = get_preset(preset)
    values = {}
    unknown = []
    for key, text in params.items():
        if key == PRESET_PARAM:
            continue
        if key not in SPEC_FIELDS:
            if key not in VIEW_PARAMS:  # the picture's parameters: see view_state_from_link
                unknown.append(key)
            continue
        try:
            values[key] = parse_field(key, text)
        except SpecError as error:
            messages.append(f"Link: {error}")
    if unknown:
        named = ", ".join(quote(key) for key in unknown[:MAX_NAMED_PARAMETERS])
        more = len(unknown) - MAX_NAMED_PARAMETERS
        messages.append(f"Link: ignored unknown parameter{'s' if len(unknown) > 1 else ''} "
                        f"{named}{f' and {more:,} more' if more > 0 else ''}.")
    if values:
        try:
            linked = spec.replace(**values).validate()
            # A basic block has no stride placement: the preset's (resnet50_v1's 1x1 under
            # block=basic) is left behind, as the Designer leaves it.
            spec = linked.replace(
                stride_in=stride_placement(linked.block, linked.stride_in)).validate()
        except SpecError as error:
            messages.append(f"Link: {error} Showing the preset {preset} instead.")
    return spec, preset, messages


def current_query() -> dict[str, str]:
    """The page address's parameters, one value each."""
    return {key: st.query_params[key] for key in st.query_params}


def set_query(query: dict[str, str]) -> None:
    """Put `query` in the address, only when it differs: each rewrite is a browser history step."""
    if current_query() != query:
        st.query_params.from_dict(query)


def ensure_design() -> list[str]:
    """Put a design in the session on a first visit, from the URL when it carries one."""
    if DESIGN_KEY in st.session_state:
        return []
    spec, preset, messages = spec_from_query(current_query())
    st.session_state[DESIGN_KEY] = spec
    st.session_state[DESIGN_PRESET_KEY] = preset
    return messages


def current_design() -> ResNetSpec:
    """The Designer's design, or the default preset before the Designer has run."""
    ensure_design()
    return st.session_state[DESIGN_KEY]


def current_preset() -> str:
    ensure_design()
    return st.session_state[DESIGN_PRESET_KEY]


def changed_fields(spec: ResNetSpec, preset: str) -> list[str]:
    """The fields in which the design differs from the preset it started from."""
    return [name for name in spec_to_query(spec, preset) if name != PRESET_PARAM]


#: What a design's width per group is when it has no bottleneck to apply it to.
_PLAIN_WIDTH_PER_GROUP = ResNetSpec().width_per_group


def width_per_group(block: str, value: int) -> int:
    """The width per group an editor's draft means: a bottleneck's own, else the default.

    Only a bottleneck has a width per group (its widget is off for basic blocks); a value left
    in that widget must not turn an otherwise unchanged basic design into a "modified" one.
    """
    return value if block == BlockKind.BOTTLENECK else _PLAIN_WIDTH_PER_GROUP


#: Where a design puts a bottleneck's stride when it has no bottleneck to put it in.
_PLAIN_STRIDE_IN = ResNetSpec().stride_in


def stride_placement(block: str, value: str) -> str:
    """The stride placement an editor's draft means: a bottleneck's own, else the default.

    A basic block has no 1x1 to put its stride on; a placement left in that (disabled) widget
    must neither go into the link nor keep ResNet-18 reached from ResNet-50 v1 from being
    recognised as ResNet-18.
    """
    return value if block == BlockKind.BOTTLENECK else _PLAIN_STRIDE_IN


def is_modified(spec: ResNetSpec, preset: str) -> bool:
    """Whether the design differs from the preset it started from."""
    return bool(changed_fields(spec, preset))


def design_name(spec: ResNetSpec, preset: str) -> str:
    """What tables and headings call a design: its preset, marked when it was changed."""
    return f"{preset} (modified)" if is_modified(spec, preset) else preset


def publish_design(spec: ResNetSpec, preset: str, view: ViewState | None = None) -> None:
    """Store a valid design in the session and the URL (rewriting the URL only when it changed),
    with the picture's `view` state when the page shows one."""
    st.session_state[DESIGN_KEY] = spec
    st.session_state[DESIGN_PRESET_KEY] = preset
    set_query({**spec_to_query(spec, preset), **(view.to_query() if view else {})})


# ----- the picture's state: controls, viewer and link -----------------------------------------

#: The last view state a page showed (Designer or Export): the other opens with it, so an
#: export draws what the Designer showed.
VIEW_STATE_KEY = "view_state"


def view_state_from_link(controls: Mapping[str, str]) -> list[str]:
    """On a page's first run, put the link's view state (or the one last shown on another
    page) into the page's controls, named by `controls` (field -> widget key); the folds,
    colour and search wait in VIEW_STATE_KEY until the viewer reports its own. Returns the
    link's messages about values it cannot mean."""
    ss = st.session_state
    if all(key in ss for key in controls.values()):
        return []
    params = current_query()
    if any(name in params for name in VIEW_PARAMS):
        state, messages = ViewState.from_query(params)
    else:
        state, messages = ss.get(VIEW_STATE_KEY, ViewState()), []
    for name, key in controls.items():
        ss[key] = getattr(state, name)
    ss[VIEW_STATE_KEY] = state
    return messages


def current_view_state(controls: Mapping[str, str], viewer_key: str,
                       graph_key: str) -> ViewState:
    """The picture as the page's controls and its viewer have it now (the viewer's folds for
    this graph, its colour and search), falling back on the link's until the viewer reports."""
    ss = st.session_state
    base = ss.get(VIEW_STATE_KEY, ViewState())
    state = base.replace(**{name: ss[key] for name, key in controls.items() if key in ss})
    if isinstance(ss.get(viewer_key), dict):  # the viewer has spoken: its folds, per graph
        state = state.replace(folded=graph_viewer.folded_stages(viewer_key, graph_key))
    reported = graph_viewer.viewer_choices(viewer_key)
    if reported is not None:
        colour, search = reported
        state = state.replace(colour=Measure(colour) if colour in set(Measure) else None,
                              search=search[:MAX_SEARCH])
    ss[VIEW_STATE_KEY] = state
    return state


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


def _drawn(result: Drawing) -> Drawing:
    """The drawing with its SVG made, so the cache keeps the SVG and not only the DOT."""
    result.svg  # noqa: B018 - a cached property: computed once, kept with the drawing
    return result


@st.cache_data(max_entries=CACHE_ENTRIES, show_spinner="Drawing the graph...",
               hash_funcs=SPEC_HASH)
def drawing(spec: ResNetSpec, state: ViewState) -> Drawing:
    """The network's graph as `state` asks (view, direction, folds, colour; pass no search, which
    changes nothing drawn and would only fill the cache)."""
    return _drawn(draw_design(spec, state, layers(spec)))


@st.cache_data(max_entries=CACHE_ENTRIES, show_spinner=False)
def block_drawing(direction: Direction, **kwargs: Any) -> Drawing:
    """The block that `inspect_block(**kwargs)` traces, drawn (a block has no stages to fold)."""
    graph = block_inspection(**kwargs).graph
    return _drawn(draw_graph(graph, pd.DataFrame(columns=["layer", "output_shape"]),
                             ViewState(graph.view, direction, Fold.OFF), can_fold_stages=False))


@st.cache_data(max_entries=CACHE_ENTRIES, show_spinner="Aligning the two networks...",
               hash_funcs=SPEC_HASH)
def diff_drawing(a: ResNetSpec, b: ResNetSpec, names: tuple[str, str]) -> tuple[Drawing, str]:
    """Two designs side by side, what differs marked, and the diff's one-sentence summary."""
    result, diff = draw_diff(a, b, names)
    return _drawn(result), summary(diff)


def analysis_diff_drawing(analysis: Any, other: Any,
                          names: tuple[str, str]) -> tuple[Drawing, str]:
    """An analysed model against a design (or another model); not cached (not hashable)."""
    result, diff = draw_diff(analysis, other, names)
    return _drawn(result), summary(diff)


#: A diff's files: the drawings (with their marks).
DIFF_FORMATS = (GraphFormat.SVG, GraphFormat.PDF, GraphFormat.PNG)


def diff_downloads(drawing_: Drawing, key: str) -> None:
    """One download button per file format of a diff, each drawn on click."""
    for column, fmt in zip(st.columns(len(DIFF_FORMATS)), DIFF_FORMATS):
        column.download_button(f"Diff as {fmt.upper()}", functools.partial(drawing_.file, fmt),
                               f"diff.{fmt}", fmt.media_type, key=f"{key}_{fmt}",
                               width="stretch")


def analysis_drawing(analysis: Any, state: ViewState) -> Drawing:
    """An analysed model (not hashable, so not cached) drawn as a design is."""
    return _drawn(draw_analysis(analysis, state))


def graph_file(spec: ResNetSpec, state: ViewState, fmt: GraphFormat,
               dpi: int = DEFAULT_DPI) -> bytes:
    """The graph as a file (DOT, SVG, PNG at `dpi`, or PDF), folded and coloured as on screen.

    Not cached: the Export page hands it to a download button that calls it on click only.
    """
    return drawing(spec, state).file(fmt, dpi)


# ----- display --------------------------------------------------------------------------------

#: Every ASCII punctuation mark: CommonMark lets a backslash make each of them literal.
_MARKUP_CHARACTERS = re.compile(f"([{re.escape(string.punctuation)}])")


#: Where GitHub-flavoured Markdown would turn plain text into a link (a bare `http://...`,
#: `www.`, `user@host`), found in escaped text; a WORD JOINER (U+2060, invisible) goes there.
_AUTOLINK_STARTS = re.compile(r"(?i)(?<![\w\u2060])((?:https?|ftps?|mailto|xmpp|file)(?=\\:)"
                              r"|www(?=\\\.))|(?<=\w)(?=\\@)")
WORD_JOINER = "\u2060"


def escape_markdown(text: str) -> str:
    """Text that Streamlit's Markdown shows as typed.

    Messages quote what users typed into links, files and fields: `![t](http://host/x.png)`
    in a link must read as those characters, not load an image from that host. Escaping every
    punctuation mark also defuses emphasis, headings, tables, HTML and Streamlit's `:color[]`.
    Backslashes do not stop GFM's autolinks (`http://host` in a link's value became a link in
    the message), so an invisible word joiner breaks each place one would start. Line breaks
    become spaces, so a message stays one paragraph.
    """
    escaped = _MARKUP_CHARACTERS.sub(r"\\\1", " ".join(str(text).split()))
    return _AUTOLINK_STARTS.sub(lambda m: (m.group(1) or "") + WORD_JOINER, escaped)


#: How the direction choice reads on screen.
DIRECTION_LABELS = {Direction.TB: "top-down", Direction.LR: "left-right"}


def view_choice(key: str, where: Any = st) -> View:
    """One node per block or one per op, as a row of radio buttons (in `where`)."""
    return where.radio("View", tuple(View), key=key, horizontal=True)


def direction_choice(key: str, where: Any = st,
                     labels: Mapping[Direction, str] = DIRECTION_LABELS) -> Direction:
    """Which way the graph runs, as a row of radio buttons (in `where`)."""
    return where.radio("Direction", tuple(Direction), key=key, horizontal=True,
                       format_func=labels.get)


def fold_choice(key: str, where: Any = st, help: str | None = None) -> Fold:
    """Whether runs of identical blocks are drawn once, as a row of radio buttons."""
    return where.radio("Fold repeats", tuple(Fold), key=key, horizontal=True, help=help)


def shortcut_label(option: str) -> str:
    """A shortcut option with what it does, as the pickers list it."""
    return f"{option}: {SHORTCUT_DESCRIPTIONS[option]}"


def show_error(message: object, where: Any = st) -> None:
    """An error box (in `where`: the page, a column, the sidebar) whose text, often quoting
    user input, is never read as markup."""
    where.error(escape_markdown(str(message)))


def folded_stages(key: str, graph_key: str) -> tuple[int, ...]:
    """The stages the viewer `key` asked to fold for this graph (see `show_drawing`)."""
    return graph_viewer.folded_stages(key, graph_key)


def show_drawing(drawing_: Drawing, key: str, graph_key: str = "",
                 height: int = graph_viewer.DEFAULT_HEIGHT, reports: bool = False,
                 search: str = "") -> None:
    """The graph in the interactive viewer, across the page's width: pan, zoom, search, node
    details, overlays; stages fold when `graph_key` names the graph they belong to. The viewer
    opens with the drawing's colour and search; with `reports` it tells the page their changes
    (`viewer_choices`)."""
    if drawing_.note:
        st.warning(drawing_.note)
    if drawing_.svg is None:
        st.info("Graphviz's `dot` program is not installed, so the browser lays the graph out "
                "(install Graphviz for SVG, PNG and PDF export).")
        st.graphviz_chart(drawing_.dot)
        return
    drawing_key = hashlib.blake2b(drawing_.svg.encode(), digest_size=8).hexdigest()
    graph_viewer.show_viewer(
        drawing_.svg, drawing_.details, key=key, graph_key=graph_key, drawing_key=drawing_key,
        direction=drawing_.direction, stages=list(drawing_.stages) if graph_key else [],
        folded=drawing_.folded, height=height, colour=drawing_.state.colour or "",
        search=search, reports=reports)


def show_metrics(spec: ResNetSpec) -> Facts:
    """The headline numbers of a valid design in one row."""
    result = facts(spec)
    show_facts(result)
    return result


def show_facts(result: Facts, input_text: str = "") -> None:
    """Parameters, mult-adds, depth and memory in one row, then the depth's explanation; the
    same for a design and for an analysed model. `input_text` names the input when it is not
    the design's own."""
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
    st.caption(escape_markdown(
        f"Depth {result.depth_explanation}.{input_text} Output {result.output_shape}, "
        f"receptive field {result.receptive_field} px."))


def stage_bars(table: pd.DataFrame, series: Mapping[str, str], title: str,
               height: int = 360) -> go.Figure:
    """Grouped bars per stage, one series (name -> column of `table`) each, legend below."""
    figure = go.Figure()
    for name, column in series.items():
        figure.add_bar(x=table["stage"], y=table[column], name=name)
    figure.update_layout(title=title, barmode="group", height=height,
                         margin=dict(l=10, r=10, t=50, b=10),
                         legend=dict(orientation="h", y=-0.15, x=0.5, xanchor="center",
                                     yanchor="top"))
    return figure


def _shape_text(value: Any) -> Any:
    return shape(value) if isinstance(value, tuple) else value


def totals_table(totals: pd.DataFrame) -> None:
    """A comparison's totals, one measure a row, each named for people ("Depth", not "depth")."""
    number_table(totals.rename(index=header).reset_index(names="measure"))


def number_table(df: pd.DataFrame, share_bars: bool = False, **kwargs: Any) -> None:
    """A dataframe that reads like the paper: human headers, counts with thousands separators,
    shapes as 1x64x56x56, shares as percentages (drawn as bars with `share_bars`)."""
    df = df.copy()
    config: dict[str, Any] = {}
    for column in df.columns:
        name = str(column)
        title = header(name)
        if df[column].dtype == object:
            df[column] = df[column].map(_shape_text)
            config[name] = st.column_config.Column(title)
        elif name in SHARE_COLUMNS and share_bars:
            config[name] = st.column_config.ProgressColumn(title, format="percent",
                                                           min_value=0.0, max_value=1.0)
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
