"""Your model: an uploaded torch.export program (or, when the server allows it, a Python file)
described like a preset: graph, tables, the closest preset and a comparison."""

from __future__ import annotations

import streamlit as st

from inspector import PRESETS, get_preset
from inspector.analysis import Analysis
from inspector.drawing import ViewState
from inspector.exported import analyze_program
from inspector.formatting import shape
from inspector.node_details import findings_payload
from inspector.op_trace import ModelError
from inspector.user_model import (ALLOW_CODE_VARIABLE, analyze_uploaded_code, code_allowed,
                                  code_limits_sentence)
from pages import common, findings_view

#: Where a new upload waits to be read: (file name, bytes). Tests put bytes here directly.
PROGRAM_KEY = "own_program"
CODE_KEY = "own_code"  # (file name, bytes, NAME, input text), only with the opt-in
#: What the last upload gave: an Analysis or the sentence that says why there is none. The
#: bytes themselves leave the session once read (a program can be 300 MB).
RESULT_KEY = "own_result"
UPLOAD_ID_KEY = "own_upload_id"
VIEW_KEY, PRESET_KEY, GRAPH_KEY = "own_view", "own_preset", "own_model_graph"
#: The model's diff against a preset: the button, which preset it was asked for, its viewer.
DIFF_BUTTON_KEY, DIFF_KEY, DIFF_VIEWER_KEY = "own_diff_button", "own_diff", "own_diff_graph"
CURRENT = "current design (Designer)"


def uploads() -> None:
    """The upload widgets; what they hold goes to the session, where `main` reads it."""
    upload = st.file_uploader("A torch.export program (.pt2)", type=["pt2"], key="own_pt2",
                              help="torch.export.save(torch.export.export(model.eval(), "
                                   "(torch.randn(1, 3, 224, 224),)), 'model.pt2')")
    if upload is not None and st.session_state.get(UPLOAD_ID_KEY) != upload.file_id:
        st.session_state[UPLOAD_ID_KEY] = upload.file_id
        st.session_state[PROGRAM_KEY] = (upload.name, upload.getvalue())
    if not code_allowed():
        st.caption(f"Python files are not accepted: this server runs no uploaded code (start "
                   f"it with {ALLOW_CODE_VARIABLE}=1 to allow that).")
        return
    with st.expander("Or a Python file (runs its code)"):
        st.warning("This server was started with the permission to run uploaded code: the file "
                   "below is imported and NAME is called, with your rights on this machine.")
        st.caption(common.escape_markdown(code_limits_sentence()))
        cols = st.columns(3)
        source = cols[0].file_uploader("Python file", type=["py"], key="own_py")
        name = cols[1].text_input("NAME (class or function)", "ResNet18", key="own_name")
        input_text = cols[2].text_input("Input CxHxW", "3x224x224", key="own_input")
        if source is not None and st.button("Run and analyse", key="own_run"):
            st.session_state[CODE_KEY] = (source.name, source.getvalue(), name, input_text)


def current_analysis() -> Analysis | None:
    """The analysis of what was uploaded last, or None; errors are shown as one sentence.

    A new upload is read once, here, and only its result stays in the session.
    """
    ss = st.session_state
    try:
        if PROGRAM_KEY in ss:
            file_name, data = ss.pop(PROGRAM_KEY)
            with st.spinner("Reading the program..."):
                ss[RESULT_KEY] = analyze_program(data, file_name)
        elif CODE_KEY in ss:
            file_name, source, name, input_text = ss.pop(CODE_KEY)
            with st.spinner("Running and tracing the file..."):
                ss[RESULT_KEY] = analyze_uploaded_code(source, name, input_text)
    except ModelError as error:
        ss[RESULT_KEY] = str(error)
    result = ss.get(RESULT_KEY)
    if isinstance(result, str):
        common.show_error(result)
        return None
    return result


def _ask_diff(other: str) -> None:
    st.session_state[DIFF_KEY] = other


def show(analysis: Analysis) -> None:
    size = shape(analysis.input_shape[1:])
    common.show_facts(analysis.facts, f" Input {size}.")
    match = analysis.closest()
    sentence = f"{match.sentence[0].upper()}{match.sentence[1:]}"
    st.info(common.escape_markdown(f"What is it? {sentence}."))
    for note in analysis.notes:
        st.warning(common.escape_markdown(note))

    findings_view.show_findings(analysis.findings)
    view = common.view_choice(VIEW_KEY)
    # Folds are kept per model and view: a fold chosen for one upload does not fold the next.
    graph_key = f"{analysis.name}|{analysis.facts.params}|{analysis.facts.mult_adds}|{view}"
    folded = common.folded_stages(GRAPH_KEY, graph_key)
    drawing = common.analysis_drawing(analysis, ViewState(view, folded=folded))
    payload = findings_payload(analysis.findings, analysis.graph(view), analysis)
    common.show_drawing(findings_view.with_findings(drawing, payload), key=GRAPH_KEY,
                        graph_key=graph_key)

    st.subheader("Per stage")
    common.number_table(analysis.stage_table())
    st.subheader("Per layer")
    common.number_table(analysis.layer_table())

    st.subheader("Compared with a preset")
    names = [CURRENT, *PRESETS]
    other = st.selectbox("Preset (the closest first chosen) or the Designer's design", names,
                         index=names.index(match.preset), key=PRESET_KEY)
    if other == CURRENT:
        design = common.current_design()
        label = common.design_name(design, common.current_preset())
        common.totals_table(analysis.compare(design, (analysis.name, label)).totals)
    else:
        design, label = get_preset(other), other
        common.totals_table(analysis.compare(other).totals)
    st.button(f"Show how it differs from {other}, block by block", key=DIFF_BUTTON_KEY,
              on_click=_ask_diff, args=(other,))
    if st.session_state.get(DIFF_KEY) == other:
        drawing, said = common.analysis_diff_drawing(analysis, design, (analysis.name, label))
        st.caption(f"{said} Changed blocks are marked in amber with what changed, blocks only "
                   "in this model in red, only in the other in green. Click a block for both "
                   "versions.")
        common.show_drawing(drawing, key=DIFF_VIEWER_KEY, height=720)
        common.diff_downloads(drawing, DIFF_VIEWER_KEY)


def main() -> None:
    st.title("Your model")
    st.caption("Upload a program saved with torch.export.save: it is read as data (no pickle "
               "is opened and none of its code runs) and described like a preset.")
    uploads()
    analysis = current_analysis()
    if analysis is not None:
        show(analysis)


common.require_navigation()
main()
