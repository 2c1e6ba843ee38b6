"""ResNet Inspector: `streamlit run app.py`.

The entry point only sets up navigation and the home page; each page lives in `pages/`.
"""

from __future__ import annotations

import streamlit as st

from pages import common


def home() -> None:
    st.title("ResNet Inspector")
    st.markdown(
        "Design, inspect and compare residual networks: every ResNet, ResNeXt, Wide ResNet and "
        "CIFAR ResNet from the papers, and anything between them. The numbers are computed "
        "from the design itself (parameters, mult-adds, depth by the paper's count, shapes), "
        "and the graph is traced from the real PyTorch model: solid shortcuts are identities, "
        "dashed shortcuts change the shape."
    )
    st.page_link(DESIGNER, label="**Designer**: start from a preset, change blocks, widths, "
                 "stem, stride placement, shortcuts; see the graph and tables update", icon="🛠️")
    st.page_link(COMPARE, label="**Compare**: two designs side by side (ResNet-34 vs ResNet-50 "
                 "to begin with), with an explanation of the differences", icon="⚖️")
    st.page_link(BLOCK, label="**Block**: one residual block on its own, with shapes for an "
                 "input you choose and why its shortcut is solid or dashed", icon="🧱")
    st.page_link(EXPORT, label="**Export**: the graph as SVG, PNG, PDF or DOT, tables as CSV, "
                 "the spec as JSON and a standalone PyTorch file", icon="📦")
    st.page_link(TRAIN, label="**Train**: train the design on a small dataset and watch the "
                 "curves", icon="📈")
    st.page_link(INFERENCE, label="**Inference**: predictions, feature maps and latency of a "
                 "trained model", icon="🔎")
    st.caption("The design you build in the Designer is kept in the page's address: copy the "
               "link to share it exactly.")


HOME = st.Page(home, title="Home", icon="🏠", default=True)
DESIGNER = st.Page("pages/designer.py", title="Designer", icon="🛠️")
COMPARE = st.Page("pages/compare.py", title="Compare", icon="⚖️")
BLOCK = st.Page("pages/block.py", title="Block", icon="🧱")
EXPORT = st.Page("pages/export.py", title="Export", icon="📦")
TRAIN = st.Page("pages/train.py", title="Train", icon="📈")
INFERENCE = st.Page("pages/inference.py", title="Inference", icon="🔎")

st.set_page_config(page_title="ResNet Inspector", page_icon="🧠", layout="wide")
navigation = st.navigation({"Inspect": [HOME, DESIGNER, COMPARE, BLOCK, EXPORT],
                            "Run": [TRAIN, INFERENCE]})
for message in common.ensure_design():
    st.error(message)
navigation.run()
