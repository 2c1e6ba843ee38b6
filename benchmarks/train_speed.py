"""Training throughput: our loop against a loop written the common way, same model and data.

The reference is how most tutorials train on CIFAR-sized images: a `torch.utils.data.DataLoader`
(batch 128, no workers) over a dataset that applies per-image PIL transforms (pad 4, random
32x32 crop, random flip, to tensor, normalise), an fp32 model, and `loss.item()` every step.
Ours keeps the dataset on the device, augments whole batches there, and picks bf16 where the
hardware runs it natively (the `auto` precision), in channels_last memory; its fp32 figure is
printed as well, so the share of each change is visible.

    python benchmarks/train_speed.py                      # resnet20 on digits, CPU or GPU
    python benchmarks/train_speed.py --preset resnet50 --steps 20
    python benchmarks/train_speed.py --block-stats        # overhead of the per-block statistics

This prints figures; it asserts nothing. Throughput is timed after warm-up steps, excluding
model building and validation; each loop runs once per round and the best round counts.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inspector import build_model, get_preset  # noqa: E402
from inspector.data import Dataset, load_dataset  # noqa: E402
from inspector.train import Trainer, TrainConfig, fit_spec, resolve_device  # noqa: E402


class PilDataset(torch.utils.data.Dataset):
    """uint8 images as PIL, transformed one at a time: the common way."""

    def __init__(self, data: Dataset):
        pixels = (data.x_train * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        self.images = [Image.fromarray(image) for image in pixels]
        self.labels = data.y_train.tolist()
        self.mean = torch.tensor(data.mean).view(-1, 1, 1)
        self.std = torch.tensor(data.std).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        image = ImageOps.expand(self.images[index], border=4, fill=0)
        left, top = random.randint(0, 8), random.randint(0, 8)
        image = image.crop((left, top, left + 32, top + 32))
        if random.random() < 0.5:
            image = ImageOps.mirror(image)
        tensor = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
        return (tensor - self.mean) / self.std, self.labels[index]


def reference_images_per_s(spec, data: Dataset, device: torch.device, batch: int, warmup: int,
                           steps: int) -> float:
    torch.manual_seed(0)
    random.seed(0)
    model = build_model(spec, device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    loader = torch.utils.data.DataLoader(PilDataset(data), batch_size=batch, shuffle=True,
                                         num_workers=0, drop_last=True)
    model.train()
    done, running_loss, start = 0, 0.0, None
    while done < warmup + steps:
        for x, y in loader:
            if done == warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            done += 1
            if done == warmup + steps:
                break
    return steps * batch / (time.perf_counter() - start)


def ours_images_per_s(spec, data: Dataset, device: str, batch: int, warmup: int, steps: int,
                      precision: str, compile_model: bool,
                      stats_every: int | None = None) -> tuple[float, str]:
    """Timed between the event after `warmup` steps and the one after `warmup + steps`;
    `stats_every` records the per-block statistics every that many steps (None: not at all)."""
    config = TrainConfig(steps=warmup + steps + 1, batch_size=batch, device=device,
                         precision=precision, compile=compile_model, log_every=warmup,
                         eval_every=10**9, block_stats=stats_every is not None,
                         stats_every=stats_every)
    if steps % warmup:
        raise SystemExit("--steps must be a multiple of --warmup")
    trainer = Trainer(spec, data, config)
    stamps = {}
    for event in trainer.events():  # an event reads the loss back: the device is in sync
        stamps[event.step] = time.perf_counter()
    return steps * batch / (stamps[warmup + steps] - stamps[warmup]), trainer.precision


def block_stats_overhead(spec, data: Dataset, args: argparse.Namespace) -> None:
    """The cost of recording the per-block statistics, as a share of the step time.

    Whole runs with and without the statistics differ by more than the cost itself on a shared
    machine, so steps with and without a record alternate in one process on the same batch and
    the medians are compared. A run records every K steps (K = 5 for a 300-step run: about 60
    records), so its overhead is (recorded - plain) / K / plain.
    """
    import statistics

    from inspector.block_stats import BlockStatsRecorder, design_probes

    trainer = Trainer(spec, data, TrainConfig(steps=1, batch_size=args.batch_size,
                                              device=args.device, precision="auto"))
    model = build_model(trainer.spec, "cpu", generator=torch.Generator().manual_seed(0))
    model = model.to(trainer.device).to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    recorder = BlockStatsRecorder(model, design_probes(model), every=1)
    trainer.recorder = recorder
    x = trainer._prepare(data.x_train[:args.batch_size].to(trainer.device))
    y = data.y_train[:args.batch_size].to(trainer.device)

    def timed(record: int | None) -> float:
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss, _ = trainer._step(model, optimizer, x, y, record)
        float(loss)  # the step's end, on any device
        return time.perf_counter() - start

    for _ in range(args.warmup):
        timed(None)
        timed(1)
    plain, recorded = [], []
    for _ in range(args.steps):
        plain.append(timed(None))
        recorded.append(timed(1))
    p, r = statistics.median(plain), statistics.median(recorded)
    print(f"median step: {p * 1000:.1f} ms without a record, {r * 1000:.1f} ms with one "
          f"({trainer.precision}, {args.steps} pairs, {len(recorder.probes)} blocks)")
    for every in (1, 5, 10):
        print(f"recording every {every:>2} steps: {(r - p) / every / p:+.1%} of the step time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="resnet20")
    parser.add_argument("--dataset", default="digits", choices=("digits", "synthetic"))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--compile", action="store_true", help="torch.compile our model")
    parser.add_argument("--block-stats", action="store_true",
                        help="measure only the overhead of the per-block statistics")
    args = parser.parse_args()

    options = {"num_train": 2048, "num_val": 128} if args.dataset == "synthetic" else {}
    data = load_dataset(args.dataset, **options)
    spec = fit_spec(get_preset(args.preset), data)
    device = resolve_device(args.device)
    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"CPU, {torch.get_num_threads()} threads")
    print(f"{args.preset} on {data.describe()}; batch {args.batch_size}; {where}; "
          f"{args.steps} timed steps after {args.warmup} warm-up steps; torch {torch.__version__}")
    if args.block_stats:
        block_stats_overhead(spec, data, args)
        return
    best = {"reference": 0.0, "fp32": 0.0, "auto": 0.0}
    precision = "fp32"
    for round_number in range(1, args.rounds + 1):
        figures = {"reference": reference_images_per_s(spec, data, device, args.batch_size,
                                                       args.warmup, args.steps)}
        figures["fp32"], _ = ours_images_per_s(spec, data, args.device, args.batch_size,
                                               args.warmup, args.steps, "fp32", args.compile, 5)
        figures["auto"], precision = ours_images_per_s(spec, data, args.device, args.batch_size,
                                                       args.warmup, args.steps, "auto",
                                                       args.compile, 5)
        print(f"round {round_number}: " + ", ".join(f"{k} {v:,.0f}" for k, v in figures.items())
              + " images/s")
        best = {k: max(best[k], figures[k]) for k in best}
    reference = best["reference"]
    print(f"best of {args.rounds} rounds (rounds interleave the loops, so a busy machine slows "
          f"all of them alike):")
    print(f"reference (DataLoader + per-image PIL transforms, fp32): {reference:8,.0f} images/s")
    print(f"ours, fp32:                                               {best['fp32']:8,.0f} images/s"
          f" ({best['fp32'] / reference:.2f}x)")
    print(f"ours, default precision ({precision}):                        {best['auto']:8,.0f} "
          f"images/s ({best['auto'] / reference:.2f}x)")
    print(f"ratio, our default loop / reference: {best['auto'] / reference:.2f}x")


if __name__ == "__main__":
    main()
