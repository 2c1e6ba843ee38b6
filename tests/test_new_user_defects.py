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
