"""The Train and Inference pages, run headless with AppTest on their own files.

Training runs in a background thread; the tests poll the page (each `run()` redraws the live
fragment) and always stop and join the threads they started.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from inspector import get_preset
from inspector.data import load_dataset
from inspector.train import TrainConfig, TrainingRun

PAGES = Path(__file__).resolve().parent.parent / "pages"
TIMEOUT = 120


def _page(name: str) -> AppTest:
    return AppTest.from_file(str(PAGES / name), default_timeout=TIMEOUT)


def _runs(at: AppTest) -> list[TrainingRun]:
    return at.session_state["train_runs"] if "train_runs" in at.session_state else []


@pytest.fixture
def train_page():
    at = _page("train.py")
    yield at
    for run in _runs(at):
        run.stop()
        run.join(timeout=60)


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _wait(at: AppTest, condition, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError("the page did not get there in time")


def test_train_page_shows_growing_metrics_and_overlays_runs(train_page):
    at = train_page
    at.run()
    assert not at.exception, at.exception
    at.number_input(key="train_steps").set_value(40)
    at.select_slider(key="train_batch").set_value(16)
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    run = _runs(at)[0]
    _wait(at, lambda: len(run.events) >= 2 and at.metric)
    first = int(_metric(at, "Step"))
    _wait(at, lambda: int(_metric(at, "Step")) > first)
    assert at.button(key="train_start").disabled  # one run at a time
    at.button(key="train_stop").click().run()
    _wait(at, lambda: not run.running and at.warning)
    assert "Stopped by request" in at.warning[0].value
    assert len(at.get("download_button")) == 2
    # a second, short run of the plain net: both runs on the same charts
    at.selectbox(key="train_preset").set_value("plain20")
    at.number_input(key="train_steps").set_value(3)
    at.button(key="train_start").click().run()
    second = _runs(at)[1]
    _wait(at, lambda: not second.running and at.success)
    assert "Completed 3 steps" in at.success[0].value
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = {trace.get("name") for trace in chart["data"]}
    assert {"resnet20 on digits #1", "plain20 on digits #2"} <= names
    assert len(at.get("download_button")) == 4


def test_train_page_offers_the_designers_design(train_page):
    at = train_page
    at.session_state["design"] = get_preset("plain56")
    at.run()
    at.radio(key="train_model_source").set_value("The Designer's design").run()
    assert not at.exception, at.exception
    assert any("plain56" in caption.value for caption in at.caption)


@pytest.fixture(scope="module")
def finished_run() -> TrainingRun:
    data = load_dataset("digits")
    spec = get_preset("resnet20").replace(layers=(1, 1, 1))
    run = TrainingRun("small on digits #1", spec, data,
                      TrainConfig(steps=3, batch_size=16, precision="fp32")).start()
    run.join(timeout=120)
    assert run.result is not None and run.error is None
    return run


def test_inference_page_shows_top5_and_feature_maps_of_every_stage(finished_run):
    at = _page("inference.py")
    at.session_state["train_runs"] = [finished_run]
    at.run()
    assert not at.exception, at.exception
    bars = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert len(bars["y"]) == 5 and set(bars["y"]) <= set(finished_run.trainer.dataset.classes)
    assert sum(bars["x"]) <= 1.0 + 1e-6
    captions = [image.proto.imgs[0].caption for image in at.get("image")]
    assert captions[0].startswith("label: ")
    stages = [c.split(":")[0] for c in captions[1:]]
    assert stages == ["conv1", "conv2_x", "conv3_x", "conv4_x"]
    assert "64 channels, 8x8" in captions[-1]
    at.number_input(key="infer_index").set_value(7).run()
    assert not at.exception, at.exception
    at.multiselect(key="infer_batches").set_value([1, 2])
    at.button(key="infer_measure").click().run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["batch size"]) == [1, 2]
    assert list(table.columns) == ["batch size", "latency (ms)", "images per second"]


def test_inference_page_without_a_model_says_what_to_do():
    at = _page("inference.py")
    at.run()
    assert not at.exception, at.exception
    assert "Train page" in at.info[0].value
