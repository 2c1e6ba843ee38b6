"""The findings of a network on a page: a sorted list with severities and fixes, and the same
list handed to the graph viewer, where each finding is a link that selects and centres its node.

Shared by the Your model page and the Designer; every sentence comes from `inspector.findings`.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from inspector.findings import Finding, summary
from inspector.kinds import Severity
from pages import common

_ICONS = {Severity.ERROR: "🔴", Severity.WARNING: "🟠", Severity.NOTE: "🔵"}


def with_findings(drawing: common.Drawing, payload: list[dict[str, Any]]) -> common.Drawing:
    """The drawing whose viewer also lists the findings (see `node_details.findings_payload`)."""
    return drawing.with_details(findings=payload)


def show_findings(findings: tuple[Finding, ...]) -> None:
    """A heading with the counts, then one line per finding (most serious first) with its fix."""
    st.subheader("Findings")
    if not findings:
        st.caption("No findings: no broadcasting sums, dead weights, cancelled biases, unused "
                   "modules or misleading names.")
        return
    st.caption(f"{summary(findings).capitalize()}. In the graph, marked nodes carry a "
               f"red (error), orange (warning) or teal (note) border; the list above the graph "
               f"links each finding to its node.")
    serious = [f for f in findings if f.severity != Severity.NOTE]
    with st.expander("Every finding, with what to change", expanded=bool(serious)):
        for finding in findings:
            icon = _ICONS[Severity(finding.severity)]
            st.markdown(f"{icon} **{finding.severity}** · {common.escape_markdown(finding.where)}: "
                        f"{common.escape_markdown(finding.message)}  \n"
                        f"*Fix:* {common.escape_markdown(finding.fix)}")
