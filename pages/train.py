"""Train: a preset or the Designer's design on a small dataset, with live curves.

Training runs in a background thread (`inspector.train.TrainingRun`); a fragment polls it every
second and redraws only the progress and the curves, so the page is not rerun while it trains,
and Stop (a normal rerun) reaches the thread between two steps. Every run of the session stays
on the charts, so plain20 and resnet20 can be overlaid.

Datasets come only from the server's data root (`inspector.data.data_root`): a visitor picks
from what lies there and never types a server path. Runs live in the server's registry
(`inspector.run_registry`) under ids kept in the link (`?runs=...`), so a reload finds them again;
while a run trains the page beats for it every second, and a run whose page is gone stops within
30 seconds. Runs beyond the server's cap wait in a queue, their position shown.
"""

from __future__ import annotations

from enum import StrEnum

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from inspector import PRESETS, ResNetSpec, find_preset
from inspector.checkpoint import result_bytes
from inspector.data import (DATASETS, DataError, Dataset, data_root, find_cifar10, image_folders,
                            load_dataset, under_root)
from inspector.block_stats import frame_bytes, parquet_available
from inspector.experiment import (DEFAULT_STEPS, DegradationResult, FinishedRun, experiment_config,
                                  plan_runs)
from inspector.run_registry import SERVER_REGISTRY
from inspector.train import (DEVICES, OPTIMIZERS, PRECISIONS, SCHEDULES, SERVER_RUNS, StopReason,
                             TrainConfig, TrainError, TrainingRun, max_runs, metrics_frame,
                             smoothed_throughput)
from inspector.spec import SpecError
from pages import common, train_view

ss = st.session_state
RUNS_KEY = common.TRAIN_RUNS_KEY  # list[TrainingRun], read by the Inference page too
RUNS_QUERY = "runs"  # the link's list of run ids: a reload or a shared link finds the runs again
EXPERIMENT_KEY = "train_experiment"  # the degradation experiment's planned runs and its figure
MAX_STEPS = 1_000_000
EPOCHS_RANGE = (0.1, 10_000.0)
#: Set while a run trains: the live view reruns the page once when the last run ends.
POLLING_KEY = "train_polling"
# Widget keys; tests drive the widgets by these.
MODEL_SOURCE_KEY, PRESET_KEY, DATASET_KEY = "train_model_source", "train_preset", "train_dataset"
DOWNLOAD_KEY, FOLDER_KEY, UNIT_KEY = "train_download", "train_folder", "train_unit"
START_KEY, STOP_KEY, CLEAR_KEY = "train_start", "train_stop", "train_clear"
DEFAULT_PRESET = "resnet20"
SCHEDULE_LABELS = {"step": "step (paper: lr / 10 at 50% and 75%)", "cosine": "cosine",
                   "onecycle": "one-cycle", "constant": "constant"}
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


class ModelSource(StrEnum):
    """Which network trains (the values are the choices' labels)."""

    PRESET = "A preset"
    DESIGN = "The Designer's design"


class LengthUnit(StrEnum):
    """What the run's length is counted in."""

    STEPS = "steps"
    EPOCHS = "epochs"


@st.cache_resource(show_spinner="Loading the dataset...", max_entries=4)
def dataset(name: str, path: str | None, image_size: int, download: bool) -> Dataset:
    options = {"download": True} if download else {}
    return load_dataset(name, path or None, image_size, **options)


def _format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "estimating..."
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}:{secs:02d}"


def curves(runs: list[TrainingRun]) -> go.Figure:
    """Loss, accuracy, learning rate and throughput of every run, one colour per run."""
    figure = make_subplots(rows=2, cols=2, subplot_titles=(
        "Training loss", "Accuracy (solid: train, dashed: validation)", "Learning rate",
        "Images per second (last ten intervals)"), horizontal_spacing=0.08, vertical_spacing=0.2)
    for number, run in enumerate(runs):
        frame = metrics_frame(list(run.events))
        color = COLORS[number % len(COLORS)]
        style = {"legendgroup": run.label, "line": {"color": color}}
        figure.add_scatter(x=frame.step, y=frame.loss, name=run.label, row=1, col=1, **style)
        figure.add_scatter(x=frame.step, y=frame.train_acc, name=run.label, showlegend=False,
                           row=1, col=2, **style)
        val = frame.dropna(subset=["val_acc"])
        figure.add_scatter(x=val.step, y=val.val_acc, name=f"{run.label} (val)",
                           mode="lines+markers", showlegend=False, row=1, col=2,
                           legendgroup=run.label,
                           line={"color": color, "dash": "dash"})
        figure.add_scatter(x=frame.step, y=frame.lr, showlegend=False, row=2, col=1, **style)
        figure.add_scatter(x=frame.step, y=smoothed_throughput(frame), showlegend=False, row=2,
                           col=2, **style)
    figure.update_xaxes(title_text="step")
    figure.update_yaxes(range=[0, 1.02], row=1, col=2)
    figure.update_yaxes(rangemode="tozero", row=2, col=1)
    figure.update_yaxes(rangemode="tozero", row=2, col=2)
    figure.update_layout(height=560, margin={"t": 40, "b": 30, "l": 10, "r": 10},
                         legend={"orientation": "h", "y": -0.12})
    return figure


def model_choice() -> tuple[str, ResNetSpec] | None:
    design = ss.get(common.DESIGN_KEY)
    options = tuple(ModelSource) if design is not None else (ModelSource.PRESET,)
    source = st.radio("Model", options, horizontal=True, key=MODEL_SOURCE_KEY)
    if source == ModelSource.PRESET:
        names = list(PRESETS)
        name = st.selectbox("Preset", names, index=names.index(DEFAULT_PRESET),
                            key=PRESET_KEY,
                            help="The classifier, input channels and input size are fitted to "
                                 "the dataset.")
        return name, PRESETS[name].spec
    name = find_preset(design) or "design"
    st.caption(f"The current design ({name}); its classifier is fitted to the dataset.")
    return name, design


def data_choice(name: str) -> dict | None:
    """Where the dataset comes from: only the server's data root, never a typed path."""
    data = {"name": name, "path": None, "download": False}
    if name not in ("cifar10", "folder"):
        return data
    root = data_root()
    if name == "cifar10":
        data["path"] = str(root)
        if find_cifar10(str(root)) is not None:
            st.caption("CIFAR-10 found in the server's data folder.")
        else:
            data["download"] = st.checkbox(
                "Download CIFAR-10 (163 MB) into the server's data folder", key=DOWNLOAD_KEY,
                help="The folder is set by whoever runs the server (RESNET_INSPECTOR_DATA_ROOT).")
        return data
    folders = image_folders(root)
    if not folders:
        st.info("The server's data folder holds no image folder (one subfolder per class); "
                "whoever runs the server can add one there (RESNET_INSPECTOR_DATA_ROOT).")
        return None
    folder = st.selectbox("Image folder", folders, key=FOLDER_KEY,
                          help="Folders in the server's data folder with one subfolder per "
                               "class.")
    try:  # listed a moment ago; checked again in case the folder changed since
        data["path"] = str(under_root(folder, root))
    except DataError as error:
        st.error(str(error))
        return None
    return data


def settings() -> tuple[str, ResNetSpec, str, dict, TrainConfig] | None:
    """The form's values, or None (with the error shown) when they do not make a config."""
    left, right = st.columns(2)
    with left:
        data_name = st.selectbox("Dataset", DATASETS, key=DATASET_KEY,
                                 help="digits: scikit-learn's 1,797 handwritten digits, "
                                      "upscaled to 32x32, no download.")
        data = data_choice(data_name)
        chosen = model_choice()
        unit = st.radio("Length in", tuple(LengthUnit), horizontal=True, key=UNIT_KEY)
        # No bounds on the fields themselves: a bounded field silently puts back its last valid
        # value, so a typed 0 trained 300 steps. Out-of-range values are said and block Start.
        if unit == LengthUnit.STEPS:
            steps, epochs = st.number_input("Steps", value=300, step=50,
                                            key="train_steps"), None
        else:
            steps, epochs = None, st.number_input("Epochs", value=10.0, step=1.0,
                                                  key="train_epochs")
        length_error = length_problem(steps, epochs)
        if length_error:
            st.error(length_error)
        batch = st.select_slider("Batch size", [16, 32, 64, 128, 256, 512], 128,
                                 key="train_batch")
    with right:
        schedule = st.selectbox("Learning-rate schedule", SCHEDULES, key="train_schedule",
                                format_func=SCHEDULE_LABELS.get)
        optimizer = st.selectbox("Optimizer", OPTIMIZERS, key="train_optimizer",
                                 help="sgd: momentum 0.9 (the paper); adam: AdamW.")
        lr = st.number_input("Learning rate", 1e-5, 10.0, 0.1, format="%.4f", key="train_lr")
        weight_decay = st.number_input("Weight decay", 0.0, 0.1, 1e-4, format="%.5f",
                                       key="train_wd")
        device = st.selectbox("Device", DEVICES, key="train_device",
                              help="auto: the GPU when PyTorch sees one, else the CPU.")
        precision = st.selectbox("Precision", PRECISIONS, key="train_precision",
                                 help="auto: bf16 where the hardware runs it natively.")
        compile_model = st.checkbox("torch.compile (slow start, faster steps on a GPU)",
                                    key="train_compile")
        seed = st.number_input("Seed", 0, 2**31 - 1, 0, key="train_seed")
    if chosen is None or data is None or length_error:
        return None
    config = TrainConfig(steps=None if steps is None else int(steps),
                         epochs=None if epochs is None else float(epochs),
                         batch_size=int(batch), lr=float(lr),
                         weight_decay=float(weight_decay), schedule=schedule,
                         optimizer=optimizer, device=device, precision=precision,
                         compile=compile_model, seed=int(seed))
    return chosen[0], chosen[1], data_name, data, config


def length_problem(steps: float | None, epochs: float | None) -> str | None:
    """A sentence when the run's length is out of range (0 steps trains nothing), else None."""
    if steps is not None and not (1 <= steps <= MAX_STEPS and float(steps).is_integer()):
        return (f"Steps must be a whole number from 1 to {MAX_STEPS:,}; {steps:g} cannot train. "
                f"Start stays off until it is.")
    low, high = EPOCHS_RANGE
    if epochs is not None and not low <= epochs <= high:
        return (f"Epochs must be between {low:g} and {high:,.0f}; {epochs:g} cannot train. "
                f"Start stays off until it is.")
    return None


def _register(run: TrainingRun) -> None:
    """Keep the run in the session, in the server's registry and in the page's link."""
    SERVER_REGISTRY.add(run)
    ss[RUNS_KEY].append(run)
    ids = [SERVER_REGISTRY.id_of(r) for r in ss[RUNS_KEY]]
    st.query_params[RUNS_QUERY] = ",".join(i for i in ids if i)


def start(name: str, spec: ResNetSpec, data: dict, config: TrainConfig) -> bool:
    """Start (or queue) a run for this page; whether it did (else the error is shown)."""
    try:
        images = dataset(data["name"], data["path"], spec.input_size if data["name"] == "folder"
                         else 32, data["download"])
        label = f"{name} on {data['name']} #{len(ss[RUNS_KEY]) + 1}"
        run = TrainingRun(label, spec, images, config)
        _register(run.start())
    except (DataError, TrainError, SpecError) as error:
        common.show_error(error)
        return False
    return True


def restore_runs() -> None:
    """The runs named in the link (a reload, a shared link) that the server still knows."""
    text = st.query_params.get(RUNS_QUERY, "")
    for run_id in str(text).split(",")[:32]:
        run = SERVER_REGISTRY.get(run_id.strip())
        if run is not None and run not in ss[RUNS_KEY]:
            ss[RUNS_KEY].append(run)
            if run.running:  # the page redraws once more when it ends, as for its own runs
                ss[POLLING_KEY] = True


def beat(runs: list[TrainingRun]) -> None:
    """Tell the server this page still shows these runs (see `inspector.run_registry`)."""
    SERVER_REGISTRY.beat([i for i in map(SERVER_REGISTRY.id_of, runs) if i])


def live(runs: list[TrainingRun]) -> None:
    """Progress of the newest run, the curves of all and each block's statistics; reruns the
    page once training ends. Each redraw is the page's heartbeat for its runs."""
    beat(runs)
    for run in runs:
        position = run.queue_position
        if position is not None:
            st.info(f"{run.label}: waiting for a free slot on this server, position {position} "
                    f"in the queue.")
    newest = runs[-1]
    events = list(newest.events)
    if events:
        last = events[-1]
        eta = "" if not newest.running else f" · ETA {_format_eta(last.eta_s)}"
        st.progress(last.step / last.total_steps,
                    text=f"{newest.label}: step {last.step}/{last.total_steps}{eta}")
        columns = st.columns(4)
        columns[0].metric("Step", f"{last.step}")
        columns[1].metric("Loss", f"{last.loss:.3f}")
        val = next((e.val_acc for e in reversed(events) if e.val_acc is not None), None)
        columns[2].metric("Validation accuracy", "-" if val is None else f"{val:.1%}")
        throughput = smoothed_throughput(metrics_frame(events)).iloc[-1]
        columns[3].metric("Images/s", f"{throughput:,.0f}", help="Training images per second "
                          "over the last ten logged intervals.")
    elif newest.running:
        st.progress(0.0, text=f"{newest.label}: building the model and the first steps...")
    st.plotly_chart(curves(runs), width="stretch")
    train_view.instrument(runs)
    if ss.get(POLLING_KEY) and not any(run.running for run in runs):
        ss[POLLING_KEY] = False
        st.rerun()


def outcomes(runs: list[TrainingRun]) -> None:
    for number, run in enumerate(runs):
        result = run.result
        if run.running or (result is None and run.error is None):
            continue
        if run.error:
            common.show_error(f"{run.label}: {run.error}")
            continue
        show = st.success if result.stopped_reason == StopReason.COMPLETED else st.warning
        show(f"{run.label}: {result.message} (device {result.device}, {result.precision})")
        if result.model is None:  # ran out of memory before the model existed
            continue
        columns = st.columns(3)
        slug = run.label.replace(" ", "_").replace("#", "")
        if result.spec is not None:
            columns[0].download_button("Download checkpoint", result_bytes(result), f"{slug}.pt",
                                       "application/octet-stream", key=f"train_ckpt_{number}")
        columns[1].download_button("Download metrics (CSV)",
                                   result.metrics_frame().to_csv(index=False), f"{slug}.csv",
                                   "text/csv", key=f"train_csv_{number}")
        if result.block_stats is not None:
            parquet = parquet_available()
            columns[2].download_button(
                f"Download block statistics ({'Parquet' if parquet else 'CSV'})",
                frame_bytes(result.block_stats.frame(), parquet),
                f"{slug}-blocks.{'parquet' if parquet else 'csv'}",
                "application/octet-stream" if parquet else "text/csv",
                key=f"train_blocks_{number}")


def buttons(chosen: tuple[str, ResNetSpec, str, dict, TrainConfig] | None) -> bool:
    """Start, Stop and Clear; whether a run is training once they have acted."""
    running = any(run.running for run in ss[RUNS_KEY])
    columns = st.columns(3)
    if columns[0].button("Start", type="primary", disabled=running or chosen is None,
                         key=START_KEY):
        name, spec, _, data, config = chosen
        if start(name, spec, data, config):
            ss[POLLING_KEY] = True
            st.rerun()  # draw the page again, Start disabled, while the run trains
    if columns[1].button("Stop", disabled=not running, key=STOP_KEY):
        for run in ss[RUNS_KEY]:
            run.stop()
    if columns[2].button("Clear runs", disabled=running or not ss[RUNS_KEY], key=CLEAR_KEY):
        ss[RUNS_KEY] = []
        ss.pop(EXPERIMENT_KEY, None)
        if RUNS_QUERY in st.query_params:
            del st.query_params[RUNS_QUERY]
    return running


def experiment(chosen: tuple[str, ResNetSpec, str, dict, TrainConfig] | None,
               running: bool) -> None:
    """The paper's figure 6 in one click: plain and residual nets of two depths, queued."""
    with st.expander("The degradation experiment (the paper's figure 6)",
                     expanded=EXPERIMENT_KEY in ss):
        st.caption("Queues plain and residual CIFAR networks of two depths on the chosen dataset "
                   "with one seed and the paper's recipe, and draws training error (dashed) and "
                   "validation error (solid), with the first block's gradient norm.")
        columns = st.columns(3)
        shallow = columns[0].number_input("Shallow depth", value=20, step=6, key="exp_shallow")
        deep = columns[1].number_input("Deep depth", value=56, step=6, key="exp_deep")
        steps = columns[2].number_input("Steps per run", value=DEFAULT_STEPS, step=50,
                                        key="exp_steps")
        problem = length_problem(steps, None)
        try:
            planned = plan_runs((int(shallow), int(deep)))
        except SpecError as error:
            planned, problem = [], str(error)
        if problem:
            common.show_error(problem)
        data = chosen[3] if chosen is not None else None
        if data is not None and data["name"] not in ("digits", "cifar10"):
            problem = "The experiment runs on digits or CIFAR-10; choose one of them above."
            st.info(problem)
        if st.button("Queue the degradation experiment", disabled=bool(
                running or problem or chosen is None), key="exp_start"):
            config = experiment_config(int(steps), seed=chosen[4].seed,
                                       device=chosen[4].device, precision=chosen[4].precision)
            try:
                images = dataset(data["name"], data["path"], 32, data["download"])
                runs = []
                for plan in planned:
                    run = TrainingRun(f"{plan.label} (figure 6)", plan.spec, images, config)
                    _register(run.start())
                    runs.append((plan, run))
            except (DataError, TrainError, SpecError) as error:
                common.show_error(error)
                return
            ss[EXPERIMENT_KEY] = {"runs": runs, "dataset": data["name"], "steps": int(steps)}
            ss[POLLING_KEY] = True
            st.rerun()
        show_experiment()


def show_experiment() -> None:
    """The figure and its caption once the experiment's runs have ended."""
    state = ss.get(EXPERIMENT_KEY)
    if not state:
        return
    runs = state["runs"]
    if any(run.running for _, run in runs):
        done = sum(not run.running for _, run in runs)
        st.info(f"The experiment's runs are training: {done} of {len(runs)} done.")
        return
    if "png" not in state:
        from inspector.experiment_figure import figure_bytes

        finished = [FinishedRun(plan, run.result) for plan, run in runs
                    if run.result is not None]
        outcome = DegradationResult(finished, state["dataset"], state["steps"])
        state.update(png=figure_bytes(outcome, "png"), svg=figure_bytes(outcome, "svg"),
                     caption=outcome.caption(), csv=outcome.metrics_frame().to_csv(index=False))
    st.image(state["png"])
    st.caption(common.escape_markdown(state["caption"]))
    columns = st.columns(3)
    columns[0].download_button("Figure (PNG)", state["png"], "figure6.png", "image/png",
                               key="exp_png")
    columns[1].download_button("Figure (SVG)", state["svg"], "figure6.svg", "image/svg+xml",
                               key="exp_svg")
    columns[2].download_button("Metrics (CSV)", state["csv"], "figure6-metrics.csv", "text/csv",
                               key="exp_csv")


def run_list() -> None:
    """Every run on this server; this page can stop its own (those in its link)."""
    entries = SERVER_REGISTRY.entries()
    if not entries:
        return
    rows = []
    for entry in entries:
        run = entry.run
        position = run.queue_position
        last = run.events[-1] if run.events else None
        state = (f"waiting, position {position}" if position is not None
                 else "training" if run.running else
                 (run.result.stopped_reason.value if run.result is not None else "failed"))
        rows.append({"run": run.label, "state": state,
                     "step": f"{last.step if last else 0}/{run.total_steps}",
                     "yours": run in ss[RUNS_KEY]})
    with st.expander(f"Runs on this server ({len(rows)})"):
        st.dataframe(rows, hide_index=True, width="stretch")
        st.caption("Stop stops the runs of this page (yours); others' runs stop when their "
                   "pages close.")


def main() -> None:
    ss.setdefault(RUNS_KEY, [])
    SERVER_REGISTRY.watch()
    restore_runs()
    st.title("Train")
    st.caption("The paper's recipe (SGD, momentum 0.9, weight decay 1e-4, batch 128, lr 0.1 "
               "divided by 10 at 50% and 75% of the steps; pad-4 random crop and flips). Start a "
               "plain20 run and a resnet20 run to see them side by side.")
    chosen = settings()
    running = buttons(chosen)
    try:
        waiting = len(SERVER_RUNS.waiting())
        st.caption(f"Training runs on this server: {len(SERVER_RUNS.active())} of at most "
                   f"{max_runs()} at a time" + (f", {waiting} waiting." if waiting else "."))
    except TrainError as error:
        st.error(str(error))
    experiment(chosen, running)
    run_list()
    if ss[RUNS_KEY]:
        st.fragment(live, run_every=1.0 if running else None)(ss[RUNS_KEY])
        outcomes(ss[RUNS_KEY])


common.require_navigation()
main()
