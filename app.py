"""ResNet Inspector: `streamlit run app.py`.

The entry point only sets up navigation and the home page; each page lives in `pages/`.
"""

from __future__ import annotations

import streamlit as st

from pages import common

DESIGNER = st.Page("pages/designer.py", title="Designer", icon=":material/architecture:")
COMPARE = st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:")
BLOCK = st.Page("pages/block.py", title="Block", icon=":material/view_module:")
PAPER_TABLE = st.Page("pages/paper_table.py", title="Paper table", icon=":material/table:")
EXPORT = st.Page("pages/export.py", title="Export", icon=":material/download:")
TRAIN = st.Page("pages/train.py", title="Train", icon=":material/monitoring:")
INFERENCE = st.Page("pages/inference.py", title="Inference", icon=":material/image_search:")
OWN_MODEL = st.Page("pages/own_model.py", title="Your model", icon=":material/upload_file:")

#: What each page is for, as the home page lists it.
PAGE_SUMMARIES = (
    (DESIGNER, "start from a preset and change blocks, widths, stem, stride placement and "
               "shortcuts; the numbers, graph and tables follow every change"),
    (COMPARE, "two designs side by side (ResNet-34 and ResNet-50 to begin with), with the "
              "differences per stage and in words"),
    (BLOCK, "one residual block on its own: its shapes for an input you choose, its parameters "
            "and why its shortcut is solid or dashed"),
    (PAPER_TABLE, "the ResNet paper's Table 1 for any designs, with FLOPs under each "
                  "convention, as Markdown, LaTeX, HTML or CSV"),
    (EXPORT, "the graph as SVG, PNG, PDF or DOT, the tables as CSV, the spec as JSON and a "
             "standalone PyTorch file"),
    (OWN_MODEL, "your own network, uploaded as a torch.export program: the same graph, "
                "tables and depth count, the closest preset and how it differs"),
    (TRAIN, "train the design on a small dataset and watch the curves"),
    (INFERENCE, "predictions, feature maps and latency of a trained model"),
)


def home() -> None:
    """The home page: what the app is for and a link to each page."""
    st.title("ResNet Inspector")
    st.markdown(
        "Design, inspect and compare residual networks: the ResNets, ResNeXts, Wide ResNets and "
        "CIFAR ResNets of the papers, and anything between them. Every number is computed from "
        "the design itself (parameters, mult-adds, depth by the paper's count, shapes), and the "
        "graph is traced from the real PyTorch model: solid shortcuts are identities, dashed "
        "shortcuts change the shape."
    )
    for page, summary in PAGE_SUMMARIES:
        st.page_link(page, label=f"**{page.title}**: {summary}", icon=page.icon)
    st.caption("The Designer keeps the design in the page's address: copy the link to share "
               "the exact design.")


HOME = st.Page(home, title="Home", icon=":material/home:", default=True)

def main() -> None:
    """Lay out the navigation, read a shared link's design once, then run the page asked for."""
    st.set_page_config(page_title="ResNet Inspector", page_icon=":material/hub:", layout="wide")
    navigation = st.navigation({"Inspect": [HOME, DESIGNER, COMPARE, BLOCK, PAPER_TABLE, EXPORT,
                                            OWN_MODEL],
                                "Run": [TRAIN, INFERENCE]})
    for message in common.ensure_design():
        common.show_error(message)
    navigation.run()


main()
