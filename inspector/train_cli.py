"""`python -m inspector train ...` and `python -m inspector infer CHECKPOINT IMAGE`.

`register(subparsers)` adds both subcommands to the main parser; user mistakes raise ValueError
subclasses, which the CLI's main prints as one line with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from inspector.checkpoint import CheckpointError, read_checkpoint, save_result
from inspector.cli_common import load_design
from inspector.data import DATASETS, load_dataset
from inspector.spec import SpecError
from inspector.train import (DEVICES, OPTIMIZERS, PRECISIONS, SCHEDULES, MetricEvent,
                             StopReason, TrainConfig, Trainer, TrainError)

EXIT_TRAINING_FAILED = 1
BAR_WIDTH = 30


def register(subparsers) -> None:
    """Add the `train` and `infer` subcommands."""
    train_parser = subparsers.add_parser(
        "train", help="train a preset or spec file on a dataset and save a checkpoint",
        description="Train with the paper's recipe (SGD 0.1, momentum 0.9, weight decay 1e-4, "
                    "batch 128, lr / 10 at 50% and 75%) unless told otherwise.")
    design = train_parser.add_mutually_exclusive_group()
    design.add_argument("--preset", default="resnet20", help="preset name (default resnet20)")
    design.add_argument("--spec", help="a JSON spec file instead of a preset")
    train_parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                              help="change a spec field (repeatable)")
    train_parser.add_argument("--dataset", choices=DATASETS, default="digits")
    train_parser.add_argument("--data-path", help="cifar10: folder of cifar-10-batches-py; "
                                                  "folder: one subfolder per class")
    train_parser.add_argument("--download", action="store_true",
                              help="download CIFAR-10 (official URL, MD5 checked) if missing")
    length = train_parser.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, default=300)
    length.add_argument("--epochs", type=float)
    train_parser.add_argument("--batch-size", type=int, default=128)
    train_parser.add_argument("--lr", type=float, default=0.1)
    train_parser.add_argument("--weight-decay", type=float, default=1e-4)
    train_parser.add_argument("--schedule", choices=SCHEDULES, default="step")
    train_parser.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd")
    train_parser.add_argument("--device", choices=DEVICES, default="auto")
    train_parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    train_parser.add_argument("--compile", action="store_true", help="use torch.compile")
    train_parser.add_argument("--seed", type=int, default=0)
    train_parser.add_argument("--out", help="checkpoint path (default runs/NAME-DATASET.pt)")
    train_parser.add_argument("--quiet", action="store_true", help="no progress bar")
    train_parser.set_defaults(handler=run_train)

    infer_parser = subparsers.add_parser(
        "infer", help="top-k classes of an image under a checkpoint")
    infer_parser.add_argument("checkpoint", help="a checkpoint from `train` or the app, or a "
                                                 "torchvision-format state_dict")
    infer_parser.add_argument("image", help="an image file (resized to the model's input)")
    infer_parser.add_argument("--top", type=int, default=5)
    infer_parser.set_defaults(handler=run_infer)


def _progress(event: MetricEvent) -> None:
    filled = round(BAR_WIDTH * event.step / event.total_steps)
    val = "" if event.val_acc is None else f" val acc {event.val_acc:.1%}"
    eta = "estimating" if event.eta_s is None else f"{event.eta_s:.0f}s"
    line = (f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {event.step}/{event.total_steps} "
            f"loss {event.loss:.3f}{val} {event.images_per_s:,.0f} img/s ETA {eta}   ")
    print(line, end="", file=sys.stderr, flush=True)


def check_writable(out: Path) -> None:
    """Create the checkpoint's folder and try a file in it now, not after the whole run."""
    if out.is_dir():
        raise TrainError(f"--out {out} is a folder; give a file name such as {out / 'run.pt'}.")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out.parent):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise TrainError(f"Cannot write the checkpoint to {out} ({reason}); choose another "
                         f"--out.") from None


def run_train(args: argparse.Namespace) -> int:
    """Every check (design, config, --out, data, memory) runs before the first line is printed,
    so a mistake is one line on stderr and nothing trains."""
    name, spec = load_design(args.spec or args.preset, args.set)
    if args.download and args.dataset != "cifar10":
        raise SpecError("--download applies to --dataset cifar10 only.")
    config = TrainConfig(steps=None if args.epochs else args.steps, epochs=args.epochs,
                         batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                         schedule=args.schedule, optimizer=args.optimizer, device=args.device,
                         precision=args.precision, compile=args.compile,
                         seed=args.seed).validate()
    out = Path(args.out or f"runs/{Path(name).stem.split(' ')[0]}-{args.dataset}.pt")
    check_writable(out)
    options = {"download": True} if args.download else {}
    dataset = load_dataset(args.dataset, args.data_path, 32, **options)
    trainer = Trainer(spec, dataset, config)
    print(f"Training {name} on {dataset.describe()}", file=sys.stderr)
    start = time.perf_counter()
    for event in trainer.events():
        if not args.quiet:
            _progress(event)
    result = trainer.result
    assert result is not None
    if not args.quiet:
        print(file=sys.stderr)
    print(f"{result.message} ({time.perf_counter() - start:.0f}s on {result.device}, "
          f"{result.precision})")
    if result.stopped_reason != StopReason.COMPLETED:
        return EXIT_TRAINING_FAILED
    save_result(out, result)
    accuracy = result.final_val_acc
    print(f"final validation accuracy: {accuracy:.4f}")
    print(f"checkpoint: {out}")
    return 0


def run_infer(args: argparse.Namespace) -> int:
    from inspector.infer import predict_topk, prepare_image, trust_problem  # numpy, pandas

    if args.top < 1:
        raise SpecError("--top must be at least 1.")
    checkpoint = read_checkpoint(args.checkpoint)
    spec = checkpoint.spec
    image = prepare_image(args.image, spec.input_size, checkpoint.mean, checkpoint.std,
                          spec.in_channels)
    top = predict_topk(checkpoint.model, image, args.top, checkpoint.classes)[0]
    problem = trust_problem(checkpoint.model, checkpoint.mean, checkpoint.std, [top])
    if problem:
        raise CheckpointError(problem)
    for rank, prediction in enumerate(top, start=1):
        print(f"{rank}. {prediction.label}\t{prediction.probability:.4f}")
    return 0
