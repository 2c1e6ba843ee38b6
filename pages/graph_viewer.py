"""The interactive graph viewer: pan, zoom, search, node details, overlays and stage folding.

A bidirectional Streamlit component whose front end is `pages/viewer_assets/`. Everything a click
or an overlay needs is sent with the drawing, so those are answered in the browser; folding a stage
needs a new layout, so the component sends back the stages to fold and the page draws again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st
import streamlit.components.v1 as components

ASSETS = Path(__file__).resolve().parent / "viewer_assets"
#: The graph's frame: tall enough for a stage of ResNet-50 at actual size on a laptop screen.
DEFAULT_HEIGHT = 640

_component = components.declare_component("graph_viewer", path=str(ASSETS))


def folded_stages(key: str, graph_key: str) -> tuple[int, ...]:
    """The stages the viewer `key` last asked to fold, if it asked about this graph.

    The component's value names the graph it was given, so a fold chosen for one design is not
    applied to another; anything malformed counts as no fold.
    """
    value = st.session_state.get(key)
    if not isinstance(value, dict) or value.get("graph") != graph_key:
        return ()
    stages = value.get("folded")
    if not isinstance(stages, list):
        return ()
    return tuple(sorted({s for s in stages if isinstance(s, int) and not isinstance(s, bool)}))


def viewer_choices(key: str) -> tuple[str, str] | None:
    """(colour, search) as the viewer `key` last reported them, or None before it has.

    Both are plain text the page checks before use (a colour must name a measure); anything
    malformed counts as nothing reported.
    """
    value = st.session_state.get(key)
    if not isinstance(value, dict) or "colour" not in value:
        return None
    colour, search = value.get("colour"), value.get("search")
    if not isinstance(colour, str) or not isinstance(search, str):
        return None
    return colour, search


def show_viewer(svg: str, details: dict[str, Any], *, key: str, graph_key: str,
                drawing_key: str, direction: str, stages: list[tuple[int, str]],
                folded: tuple[int, ...], height: int = DEFAULT_HEIGHT, colour: str = "",
                search: str = "", reports: bool = False) -> None:
    """Draw the viewer. `graph_key` names the graph (folds are kept per graph); `drawing_key`
    changes whenever the SVG does, so the browser keeps its zoom across unrelated reruns.
    `colour` and `search` are what the viewer opens with; with `reports`, it sends their
    changes back (see `viewer_choices`), so a page can keep them in its link."""
    _component(svg=svg, details=details, graph_key=graph_key, drawing_key=drawing_key,
               direction=direction, stages=[list(s) for s in stages], folded=list(folded),
               height=height, colour=colour, search=search, reports=reports, key=key,
               default=None)
