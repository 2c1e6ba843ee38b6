"""Defects a new user met, each driven through the page that showed it (AppTest)."""

from __future__ import annotations

from inspector import get_preset

from test_app_pages import assert_clean, open_page


def test_basic_blocks_drop_the_stride_placement_and_resnet18_is_recognised():
    # ResNet-50 v1 puts its stride on the first 1x1; a basic block has no 1x1 to put it on.
    at = open_page("pages/designer.py", {"preset": "resnet50_v1"})
    at.selectbox(key="d_depth").set_value("18").run()
    assert_clean(at, "depth 18 from resnet50_v1")
    assert at.session_state["design"] == get_preset("resnet18")
    assert "stride_in" not in at.query_params
    assert any("builds the same network as **resnet18**" in c.value for c in at.caption)


def test_apply_json_after_editing_blocks_keeps_the_edited_design():
    at = open_page("pages/compare.py")
    at.text_input(key="c_A_layers").set_value("2,2,2,2").run()
    assert_clean(at, "edited blocks")
    edited = at.session_state["cmp_spec_A"]
    assert edited == get_preset("resnet34").replace(layers=(2, 2, 2, 2))
    # The box shows the design as it is now, so applying it changes nothing.
    assert at.text_area(key="c_A_json").value == edited.to_json()
    at.button(key="c_A_apply").click().run()
    assert_clean(at, "applied")
    assert at.session_state["cmp_spec_A"] == edited
    # A JSON typed into the box is applied as typed.
    at.text_area(key="c_A_json").set_value(get_preset("resnet20").to_json())
    at.button(key="c_A_apply").click().run()
    assert at.session_state["cmp_spec_A"] == get_preset("resnet20")


# ----- the picture's state travels in the link ---------------------------------------------

def _viewer(at):
    import json

    (args,) = [json.loads(c.proto.json_args) for c in at.get("component_instance")
               if c.proto.component_name.endswith("graph_viewer")]
    return args


def test_a_shared_link_reproduces_view_direction_folds_colour_and_search():
    link = {"preset": "resnet34", "view": "layer", "direction": "LR", "fold": "on",
            "stages": "3", "colour": "mult_adds", "search": "conv4"}
    at = open_page("pages/designer.py", link)
    assert_clean(at, "opened from the link")
    assert (at.radio(key="g_view").value, at.radio(key="g_direction").value,
            at.radio(key="g_fold").value) == ("layer", "LR", "on")
    args = _viewer(at)
    assert args["folded"] == [2] and args["colour"] == "mult_adds" and args["search"] == "conv4"
    assert args["direction"] == "LR" and "node-layer3" in args["details"]["nodes"]
    assert not any(node.startswith("node-layer3.") for node in args["details"]["nodes"])
    assert dict(at.query_params) == link, "the link keeps what it asked for"

    # The viewer reports a new fold, colour and search: the link follows.
    at.session_state["designer_graph"] = {"graph": args["graph_key"], "folded": [0, 1],
                                          "colour": "params", "search": "fc"}
    at.run()
    assert_clean(at, "after the viewer's report")
    assert {k: at.query_params[k] for k in ("stages", "colour", "search")} == {
        "stages": "1,2", "colour": "params", "search": "fc"}
    assert _viewer(at)["folded"] == [0, 1]

    # The Export page opens with that picture, and its files hold it.
    at.switch_page("pages/export.py").run()
    assert_clean(at, "export")
    assert (at.radio(key="e_view").value, at.radio(key="e_direction").value) == ("layer", "LR")
    args = _viewer(at)
    assert args["folded"] == [0, 1] and args["colour"] == "params"
    assert at.query_params["stages"] == "1,2"


def test_an_export_file_carries_the_folds_and_colours_of_the_preview():
    from pages.common import graph_file

    at = open_page("pages/export.py", {"preset": "resnet18", "stages": "2",
                                       "colour": "activation_bytes"})
    assert_clean(at, "export from a link")
    state = at.session_state["view_state"]
    assert state.folded == (1,) and state.colour == "activation_bytes"
    svg = graph_file(get_preset("resnet18"), state, "svg").decode()
    assert 'id="node&#45;layer2"' in svg and "layer2.0" not in svg.split("<svg", 1)[1]
    assert "Coloured by activation memory" in svg


def test_a_link_with_a_bad_picture_value_says_so_and_still_opens():
    at = open_page("pages/designer.py", {"preset": "resnet18", "view": "<b>x</b>",
                                         "stages": "9", "colour": "nope"})
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "view must be one of" in errors and "stages lists" in errors
    assert "colour must be one of" in errors
    assert at.radio(key="g_view").value == "block"


def test_the_designers_design_is_no_second_column_beside_its_preset():
    from test_app_pages import paper_html

    at = open_page("pages/paper_table.py", {"preset": "resnet50"})
    at.multiselect(key="p_designs").set_value(["current design (Designer)", "resnet50",
                                               "resnet18"]).run()
    assert_clean(at, "paper table")
    text = paper_html(at)
    assert text.count("<th>") == 2 + 2, "layer name, output size, resnet50, resnet18"
    assert any("already a column: shown once" in c.value for c in at.caption)
    at.multiselect(key="p_designs").set_value(["current design (Designer)", "resnet18"]).run()
    assert paper_html(at).count("<th>") == 2 + 2  # not a duplicate: both shown


def test_your_model_folds_the_stages_its_titles_offer_to_fold():
    import json

    from inspector.model import build_model
    from test_exported import export_bytes

    at = open_page("pages/own_model.py")
    model = build_model(get_preset("resnet18"), "cpu")
    at.session_state["own_program"] = ("my_net.pt2", export_bytes(model, (3, 64, 64)))
    at.run()
    assert_clean(at, "uploaded")

    def viewer():
        (args,) = [json.loads(c.proto.json_args) for c in at.get("component_instance")
                   if c.proto.component_name.endswith("graph_viewer")]
        return args

    args = viewer()
    assert [name for _, name in args["stages"]] == ["conv2_x", "conv3_x", "conv4_x", "conv5_x"]
    at.session_state["own_model_graph"] = {"graph": args["graph_key"], "folded": [1]}
    at.run()
    args = viewer()
    assert args["folded"] == [1]
    assert [info["label"] for info in args["details"]["nodes"].values()
            if info["folded_stage"] == 1] == ["conv3_x (folded)\n2 blocks"]
