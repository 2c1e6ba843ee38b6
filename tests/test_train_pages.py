"""The Train and Inference pages, run headless with AppTest on their own files.

Training runs in a background thread; the tests poll the page (each `run()` redraws the live
fragment) and always stop and join the threads they started.
"""

from __future__ import annotations

import gc
import json
import time
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from inspector import get_preset
from inspector.data import DataError, data_root, load_dataset, under_root
from inspector.run_registry import HEARTBEAT_TIMEOUT_S, SERVER_REGISTRY
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
    # checkpoint, metrics and block statistics (Parquet: pyarrow is installed with pandas' extras)
    assert len(at.get("download_button")) == 3
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
    assert len(at.get("download_button")) == 6


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


def test_start_is_disabled_as_soon_as_a_run_starts(train_page):
    at = train_page
    at.run()
    at.number_input(key="train_steps").set_value(100_000)
    at.select_slider(key="train_batch").set_value(16)
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert at.button(key="train_start").disabled
    assert not at.button(key="train_stop").disabled


def _start_long_run(at: AppTest) -> TrainingRun:
    at.run()
    at.number_input(key="train_steps").set_value(100_000)
    at.select_slider(key="train_batch").set_value(16)
    at.button(key="train_start").click().run()
    return _runs(at)[0]


def test_a_run_stops_when_its_page_stops_beating(monkeypatch):
    """The session goes away as when a tab is closed; the server's watchdog, reading its own
    clock (moved 31 s on instead of waited for), stops the run."""
    at = _page("train.py")
    run = _start_long_run(at)
    try:
        assert run.running
        run_id = SERVER_REGISTRY.id_of(run)
        assert at.query_params["runs"] == [run_id] or at.query_params["runs"] == run_id
        del at
        gc.collect()
        assert run.running  # a reload within the timeout would find it
        later = time.monotonic() + HEARTBEAT_TIMEOUT_S + 1
        monkeypatch.setattr(SERVER_REGISTRY, "_clock", lambda: later)
        assert run_id in SERVER_REGISTRY.sweep()
        run.join(timeout=60)
        assert not run.running
        assert run.result.stopped_reason == "stopped"
    finally:
        run.stop()
        run.join(timeout=60)


def test_a_reload_shows_the_run_again(train_page):
    run = _start_long_run(train_page)
    again = _page("train.py")
    again.query_params["runs"] = SERVER_REGISTRY.id_of(run)
    again.run()
    assert not again.exception, again.exception
    assert _runs(again) == [run]
    assert any(run.label in p.text for p in again.get("progress")) or run.running


@pytest.mark.parametrize("steps", [0, -5, 2_000_000])
def test_steps_out_of_range_are_said_and_keep_start_disabled(train_page, steps):
    at = train_page
    at.run()
    at.number_input(key="train_steps").set_value(steps)
    at.run()
    assert any("Steps must be a whole number from 1 to" in e.value for e in at.error)
    assert at.button(key="train_start").disabled
    assert not _runs(at)


def test_the_block_statistics_colour_the_graph_and_fill_the_heatmap(train_page):
    at = train_page
    at.run()
    at.number_input(key="train_steps").set_value(6)
    at.select_slider(key="train_batch").set_value(16)
    at.button(key="train_start").click().run()
    _wait(at, lambda: not _runs(at)[0].running)
    at.run()
    assert not at.exception, at.exception
    log = _runs(at)[0].trainer.block_stats
    assert log.steps[-1] == 6 and len(log.blocks) == 9  # resnet20: 3 stages x 3 blocks
    assert at.selectbox(key="train_stat").value == "grad_norm"
    heatmaps = [c for c in at.get("plotly_chart")
                if '"type":"heatmap"' in c.proto.spec.replace(" ", "")]
    assert heatmaps
    at.selectbox(key="train_stat").set_value("zero_share").run()
    assert not at.exception, at.exception


def _image_folder(folder: Path) -> None:
    for label in ("cats", "dogs"):
        (folder / label).mkdir(parents=True)
        Image.new("RGB", (8, 8), "white").save(folder / label / "a.png")


def test_the_train_page_offers_only_folders_under_the_data_root(tmp_path, monkeypatch):
    root, outside = tmp_path / "root", tmp_path / "outside"
    _image_folder(root / "pets")
    _image_folder(outside / "secret")
    (root / "notes").mkdir()  # no class subfolders: not a dataset
    (root / "escape").symlink_to(outside / "secret", target_is_directory=True)
    monkeypatch.setenv("RESNET_INSPECTOR_DATA_ROOT", str(root))
    at = _page("train.py")
    at.run()
    at.selectbox(key="train_dataset").set_value("folder").run()
    assert not at.exception, at.exception
    assert not at.text_input  # no free path to type
    assert at.selectbox(key="train_folder").options == ["pets"]
    at.selectbox(key="train_dataset").set_value("cifar10").run()
    assert not at.exception and not at.text_input
    assert "into the server's data folder" in at.checkbox(key="train_download").label
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside", "root"]


def test_data_root_paths_never_lead_outside(tmp_path, monkeypatch):
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(tmp_path, target_is_directory=True)
    monkeypatch.setenv("RESNET_INSPECTOR_DATA_ROOT", str(root))
    assert data_root() == root.resolve()
    assert under_root("pets") == root.resolve() / "pets"
    for name in ("../x", "/etc", "pets/../../x", "link"):
        with pytest.raises(DataError):
            under_root(name)
    monkeypatch.delenv("RESNET_INSPECTOR_DATA_ROOT")
    assert data_root() == (Path.cwd() / "data").resolve()
