"""Inference: a model trained on the Train page or an uploaded checkpoint; its top-5 for an image,
the feature maps of every stage, and its latency per batch size.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from inspector.checkpoint import (Checkpoint, CheckpointError, checkpoint_from_result,
                                  read_checkpoint)
from inspector.data import DataError, Dataset, load_dataset, normalize, open_image
from inspector.infer import (DEFAULT_BATCH_SIZES, feature_grid, feature_maps, latency_display,
                             latency_table, predict_topk, prepare_image, trust_problem)
from inspector.train import DEVICES, TrainError, resolve_device
from pages import common

ss = st.session_state
SAMPLE_DATASETS = ("digits", "cifar10", "synthetic")
#: Feature-map grids are tiny (8x8 maps); draw them at least this wide, pixels kept square.
GRID_WIDTH = 640
# Widget keys; tests drive the widgets by these.
SOURCE_KEY, RUN_KEY, UPLOAD_KEY = "infer_source", "infer_run", "infer_upload"
IMAGE_SOURCE_KEY, INDEX_KEY, IMAGE_KEY = "infer_image_source", "infer_index", "infer_image"
DEVICE_KEY, BATCHES_KEY, MEASURE_KEY = "infer_device", "infer_batches", "infer_measure"


class ModelSource(StrEnum):
    """Where the model comes from (the values are the choices' labels)."""

    TRAINED = "Trained in this session"
    UPLOAD = "Upload a checkpoint"


class ImageSource(StrEnum):
    """Where the image comes from (the values are the choices' labels)."""

    SAMPLE = "A validation image"  # shown with the dataset's name
    UPLOAD = "Upload an image"


@st.cache_resource(max_entries=4, show_spinner="Loading the checkpoint...")
def uploaded_checkpoint(digest: str, _data: bytes) -> Checkpoint:
    """Shared by every session, so read-only: nothing below moves or changes its model."""
    return read_checkpoint(_data)


def _upload_limit() -> str:
    return f"up to {st.get_option('server.maxUploadSize')} MB"


@st.cache_resource(max_entries=4, show_spinner="Loading the dataset...")
def sample_dataset(name: str, image_size: int) -> Dataset:
    return load_dataset(name, image_size=image_size)


def choose_model() -> tuple[Checkpoint, Dataset | None] | None:
    finished = [run for run in ss.get(common.TRAIN_RUNS_KEY, []) if run.result is not None
                and run.result.model is not None]  # none when the model did not fit
    sources = [ModelSource.TRAINED, ModelSource.UPLOAD] if finished else [ModelSource.UPLOAD]
    source = st.radio("Model", sources, horizontal=True, key=SOURCE_KEY)
    if source == ModelSource.TRAINED:
        labels = [run.label for run in finished]
        label = st.selectbox("Run", labels, index=len(labels) - 1, key=RUN_KEY)
        run = finished[labels.index(label)]
        return checkpoint_from_result(run.result), run.trainer.dataset
    upload = st.file_uploader(f"Checkpoint ({_upload_limit()})",
                              type=["pt", "pth", "ckpt", "bin"], key=UPLOAD_KEY)
    if upload is None:
        if not finished:
            st.info("No model trained in this session yet: train one on the Train page, or "
                    "upload a checkpoint (this app's .pt file, or a torchvision-format "
                    "state_dict).")
        return None
    data = upload.getvalue()
    try:
        return uploaded_checkpoint(hashlib.sha256(data).hexdigest(), data), None
    except CheckpointError as error:
        common.show_error(error)
        return None


def choose_image(checkpoint: Checkpoint, data: Dataset | None) -> torch.Tensor | None:
    """A normalised (1, C, H, W) image, shown with its label or name where it is picked."""
    spec = checkpoint.spec
    name = checkpoint.dataset if checkpoint.dataset in SAMPLE_DATASETS else "digits"
    choice = st.radio("Image", tuple(ImageSource), horizontal=True, key=IMAGE_SOURCE_KEY,
                      format_func=lambda source: f"A {name} validation image"
                      if source == ImageSource.SAMPLE else str(source))
    if choice == ImageSource.SAMPLE:
        try:
            data = data or sample_dataset(name, spec.input_size)
        except DataError as error:
            common.show_error(error)
            return None
        if data.in_channels != spec.in_channels or data.image_size != spec.input_size:
            st.warning(f"The {name} images do not fit this model's "
                       f"{spec.in_channels}x{spec.input_size}x{spec.input_size} input; upload an "
                       f"image instead.")
            return None
        count = len(data.x_val)
        # no max_value: a number typed beyond it would be dropped silently; it is named instead
        index = int(st.number_input(f"Image number (0 to {count - 1})", min_value=0, step=1,
                                    key=INDEX_KEY))
        if index >= count:
            st.warning(f"There are {count:,} {name} validation images, numbered 0 to "
                       f"{count - 1:,}; image {index:,} does not exist.")
            return None
        image = data.x_val[index]
        truth = data.classes[int(data.y_val[index])]
        st.image(_upscaled(image.permute(1, 2, 0).numpy(), 160), caption=f"label: {truth}")
        return normalize(image.unsqueeze(0), checkpoint.mean, checkpoint.std)
    upload = st.file_uploader(f"Image ({_upload_limit()})",
                              type=["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"],
                              key=IMAGE_KEY)
    if upload is None:
        return None
    try:  # decoded once, to 8 bits in the model's channels, for both display and prediction
        picture = open_image(upload, spec.in_channels, spec.input_size)
        image = prepare_image(picture, spec.input_size, checkpoint.mean, checkpoint.std,
                              spec.in_channels)
    except DataError as error:
        common.show_error(error)
        return None
    st.image(picture, caption="uploaded (the model sees it resized to "
                              f"{spec.input_size}x{spec.input_size})", width=160)
    return image


def _upscaled(image: np.ndarray, width: int) -> np.ndarray:
    """Nearest-neighbour upscaling so small images and maps stay crisp."""
    factor = max(1, width // image.shape[1])
    return np.clip(image.repeat(factor, axis=0).repeat(factor, axis=1), 0.0, 1.0)


def show_top5(checkpoint: Checkpoint, image: torch.Tensor) -> bool:
    """The top-5 chart, or a warning when the model's outputs cannot be trusted (then False)."""
    top = predict_topk(checkpoint.model, image, k=5, classes=checkpoint.classes)[0]
    problem = trust_problem(checkpoint.model, checkpoint.mean, checkpoint.std, [top])
    if problem:
        st.warning(f"No prediction: {problem}")
        return False
    figure = go.Figure(go.Bar(x=[p.probability for p in top][::-1],
                              y=[p.label for p in top][::-1], orientation="h",
                              text=[f"{p.probability:.1%}" for p in top][::-1]))
    figure.update_layout(height=260, margin={"t": 30, "b": 10, "l": 10, "r": 10},
                         title="Top-5", xaxis={"range": [0, 1], "title": "probability"},
                         yaxis={"type": "category"})  # digits' classes "0".."9" are names
    st.plotly_chart(figure, width="stretch")
    st.caption(f"Prediction: **{common.escape_markdown(top[0].label)}** "
               f"({top[0].probability:.1%}).")
    return True


def show_feature_maps(checkpoint: Checkpoint, image: torch.Tensor) -> None:
    st.subheader("Feature maps")
    st.caption("The stem's output and each stage's output (first 16 channels, each scaled to its "
               "own range), taken through torch.fx feature extraction.")
    for name, maps in feature_maps(checkpoint.model, image).items():
        grid = feature_grid(maps)
        caption = f"{name}: {maps.shape[0]} channels, {maps.shape[1]}x{maps.shape[2]}"
        st.image(_upscaled(grid, GRID_WIDTH), caption=caption, clamp=True)


def show_latency(checkpoint: Checkpoint) -> None:
    st.subheader("Latency and throughput")
    left, right = st.columns(2)
    device_name = left.selectbox("Device", DEVICES, key=DEVICE_KEY)
    sizes = right.multiselect("Batch sizes", DEFAULT_BATCH_SIZES, DEFAULT_BATCH_SIZES,
                              key=BATCHES_KEY)
    if not st.button("Measure", key=MEASURE_KEY, disabled=not sizes):
        return
    try:
        device = resolve_device(device_name)
    except TrainError as error:
        common.show_error(error)
        return
    with st.spinner("Timing forward passes..."):  # times a copy when the device differs
        table = latency_table(checkpoint.model, device, sorted(sizes), budget_s=0.3)
    st.dataframe(latency_display(table), hide_index=True)
    figure = go.Figure(go.Scatter(x=table.batch_size, y=table.images_per_s, mode="lines+markers"))
    figure.update_layout(height=300, xaxis={"type": "log", "title": "batch size"},
                         yaxis={"title": "images per second"},
                         margin={"t": 20, "b": 10, "l": 10, "r": 10})
    st.plotly_chart(figure, width="stretch")


def main() -> None:
    st.title("Inference")
    chosen = choose_model()
    if chosen is None:
        return
    checkpoint, data = chosen
    image = choose_image(checkpoint, data)
    if image is not None and show_top5(checkpoint, image):
        show_feature_maps(checkpoint, image)
    show_latency(checkpoint)


common.require_navigation()
main()
