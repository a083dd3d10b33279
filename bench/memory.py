"""Peak memory of training with validation, side by side in one run: train_ssd.py with the documented
low-memory recipe (docs/training.md) (mb1-ssd, batch 4, 2 data workers, 300 x 300: a Jetson Nano's settings) against the
classic pipeline with the same settings.

Each variant runs in its own fresh process, so peaks do not mix. Every 25 ms the PSS of that process
and of all its descendants (the data workers) is read from /proc/<pid>/smaps_rollup and summed: PSS
shares each page out among the processes that map it, so the sum is the memory the whole run takes.

ours, with validation     train_ssd.py with the recipe's flags, --epochs E --max-steps-per-epoch N from
                          scratch: each epoch N training steps, then validation on the test split and
                          the checkpoints. Two epochs by default: the second shows what the first
                          validation left behind, and workers forked after the first epoch would hold
                          copies of the trained weights.
ours, training alone      the same E x N steps in one epoch, stopped as soon as the log says they are done
                          (the last epoch always validates, so training is cut off there).
classic, with validation  the earlier tools' epochs: bench/dataloader.py's data path (OpenCV, float numpy
                          augmentation, per-sample matching in the workers, which exit after each pass)
                          feeding bench/train_step.py's classic step (fp32, channels-first, the earlier
                          MultiboxLoss) for N steps, then their validation pass, E times.

"first training" is a run's peak until its first training steps are done, "after" its peak from then on
(validation, checkpoints, the later epochs). The variants take turns for --rounds rounds; the round with
the median peak is reported, with every round's peak beside it: the peak moves by a few percent from
run to run (where the C heap fragments, and PSS shares library pages with other processes).

    python3 bench/memory.py [--data PATH] [--epochs 2] [--steps 10] [--rounds 3] [--device cpu]
                            [--flags="--net mb1-ssd --batch-size 4 --workers 2"]
"""
import argparse
import collections
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

BENCH = Path(__file__).resolve().parent
# its neighbours, the checkout and tests/classic.py, run or imported (tests)
sys.path[:0] = [str(BENCH), str(BENCH.parent), str(BENCH.parent / "tests")]
from classic import MatchPrior, classic_multibox_loss  # noqa: E402
from dataloader import ClassicCocoDataset, resize, subtract_means, to_percent_coords, to_tensor  # noqa: E402
from train_step import (IOU_THRESHOLD, LEARNING_RATE, MOMENTUM, WEIGHT_DECAY, Clock, Variant,  # noqa: E402
                        classic_augmentation, classic_step)
from vision.datasets import open_dataset  # noqa: E402
from vision.ssd import create_net  # noqa: E402
from vision.ssd.nets import NETS  # noqa: E402
from vision.training.options import parse_args as train_options  # noqa: E402
from vision.training.precision import Precision, describe_device  # noqa: E402

REPO = BENCH.parent
RECIPE_PAGE = REPO / "docs" / "training.md"
RECIPE_HEADING = "### Low memory: a Jetson Nano"  # the section whose train_ssd.py line is the recipe
SAMPLE_SECONDS = 0.025
OURS_TRAINED = ": training loss "  # loop.py logs it once an epoch's steps are done, before validation
CLASSIC_TRAINED = "classic: training steps done"


# ---- PSS of a process tree ----

def tree_pss_kb(pid: int) -> tuple[int, int]:
    """(PSS in kB summed over `pid` and all its descendants, how many processes they are)."""
    total, count, pending = 0, 0, [pid]
    while pending:
        current = pending.pop()
        try:
            total += pss_kb(current)
            pending += children(current)
        except OSError:  # it exited meanwhile
            continue
        count += 1
    return total, count


def pss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0  # a zombie maps nothing


def children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as listing:
                found += [int(child) for child in listing.read().split()]
        except OSError:  # the thread ended meanwhile
            continue
    return found


class PeakMonitor(threading.Thread):
    """Samples a process tree until stopped; keeps the peak (kB, processes) of each phase: before
    `mark()` (the first training steps) and after it (validation, checkpoints, later epochs)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peaks = [(0, 0), (0, 0)]
        self.phase = 0
        self.finished = threading.Event()

    def run(self) -> None:
        while not self.finished.is_set():
            phase = self.phase
            self.peaks[phase] = max(self.peaks[phase], tree_pss_kb(self.pid))
            self.finished.wait(SAMPLE_SECONDS)

    def mark(self) -> None:
        self.phase = 1


def measure(command: list[str], marker: str, stop_at_marker: bool = False) -> dict:
    """Run `command` in a fresh process (one thread per process) and sample its memory until it ends,
    or until it writes `marker` to stderr when `stop_at_marker`."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                               start_new_session=True)  # its own process group: the workers go with it
    monitor = PeakMonitor(process.pid)
    monitor.start()
    tail = collections.deque(maxlen=15)
    for line in process.stderr:  # tqdm's carriage returns end lines too (text mode)
        tail.append(line)
        if marker in line and not monitor.phase:
            monitor.mark()
            if stop_at_marker:
                os.killpg(process.pid, signal.SIGKILL)
                break
    process.wait()
    process.stderr.close()
    monitor.finished.set()
    monitor.join()
    if not monitor.phase or (process.returncode != 0 and not stop_at_marker):
        sys.exit(f"bench/memory.py: {Path(command[1]).name} failed (exit code {process.returncode}):\n"
                 + "".join(tail))
    training, after = monitor.peaks
    peak = training if stop_at_marker else max(training, after)
    return {"peak": peak[0] / 1024, "processes": peak[1], "training": training[0] / 1024,
            "after": None if stop_at_marker else after[0] / 1024, "seconds": time.perf_counter() - started}


# ---- the variants ----

def low_memory_recipe() -> list[str]:
    """The flags of the documented low-memory recipe: the `python3 train_ssd.py` line under RECIPE_HEADING."""
    page = RECIPE_PAGE.read_text(encoding="utf-8")
    section = page[page.index(RECIPE_HEADING):]
    line = next(line for line in section.splitlines() if line.strip().startswith("python3 train_ssd.py"))
    return shlex.split(line)[2:]


def settings(args) -> argparse.Namespace:
    """train_ssd.py's options for the flags, as it reads them: the classic run gets the same net,
    batch size, workers and resolution."""
    return train_options([*args.flags, "--data", str(args.data)])[0]


def ours_command(args, model_dir: str, epochs: int, steps: int) -> list[str]:
    """train_ssd.py with the flags; the data, run length and device of the benchmark come after them
    and win (argparse keeps an option's last value)."""
    return [sys.executable, "train_ssd.py", *args.flags, "--data", str(args.data), "--model-dir", model_dir,
            "--epochs", str(epochs), "--max-steps-per-epoch", str(steps), "--no-pretrained",
            "--device", args.device, "--seed", str(args.seed)]


def classic_command(args) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--classic-run", f"--flags={shlex.join(args.flags)}",
            "--data", str(args.data), "--epochs", str(args.epochs), "--steps", str(args.steps),
            "--device", args.device, "--seed", str(args.seed)]


def classic_test_transform(size: int, mean, std: float):
    """The earlier tools' TestTransform: percent coordinates, resize, mean and std, CHW float tensor."""
    steps = [to_percent_coords, resize(size), subtract_means(mean),
             lambda image, boxes, labels: (image / np.float32(std), boxes, labels), to_tensor]

    def apply(image, boxes, labels):
        for step in steps:
            image, boxes, labels = step(image, boxes, labels)
        return image, boxes, labels
    return apply


def classic_run(args) -> None:
    """The earlier tools' epochs, in this process: each a fresh training loader (its workers exit when
    the pass ends), `args.steps` of their step, then their validation loss over the validation split."""
    torch.set_num_threads(1)
    device, run = torch.device(args.device), settings(args)
    config = NETS[run.net]
    train_set = open_dataset(args.data, "train", include_negatives=False)
    val_set = open_dataset(args.data, "val", class_order=train_set.class_names[1:], include_negatives=False)
    torch.manual_seed(args.seed)
    net = create_net(run.net, len(train_set.class_names), run.resolution).to(device).train()
    match = MatchPrior(net.priors.cpu(), IOU_THRESHOLD)
    train_data = ClassicCocoDataset(train_set, classic_augmentation(run.resolution, config.mean, config.std),
                                    match)
    val_data = ClassicCocoDataset(val_set, classic_test_transform(run.resolution, config.mean, config.std),
                                  match)
    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    variant = Variant("classic", classic_step, None, net, optimizer, Precision(), device)
    for epoch in range(args.epochs):
        classic_train(variant, DataLoader(train_data, batch_size=run.batch_size, shuffle=True,
                                          num_workers=run.workers), args.steps)
        if epoch == 0:
            print(CLASSIC_TRAINED, file=sys.stderr, flush=True)
        classic_validation_loss(net, DataLoader(val_data, batch_size=run.batch_size, num_workers=run.workers),
                                device)


def classic_train(variant: Variant, loader: DataLoader, steps: int) -> None:
    """bench/train_step.py's classic step on the first `steps` batches; the loader's workers exit on return."""
    for _, batch in zip(range(steps), loader):
        classic_step(variant, batch, Clock(variant.device))


@torch.no_grad()
def classic_validation_loss(net, loader: DataLoader, device: torch.device) -> float:
    """The earlier train_ssd.py's test(): the mean loss over the validation batches."""
    net.eval()
    total = 0.0
    for images, gt_locations, labels in loader:
        confidence, locations = net(images.to(device))
        regression, classification = classic_multibox_loss(confidence, locations, labels.to(device),
                                                           gt_locations.to(device))
        total += float(regression + classification)
    net.train()
    return total / len(loader)


# ---- report ----

def machine() -> str:
    return f"{describe_device(torch.device('cpu'))}, torch {torch.__version__}"


def median_run(runs: list[dict]) -> dict:
    return sorted(runs, key=lambda run: run["peak"])[(len(runs) - 1) // 2]


def print_table(results: dict[str, list[dict]]) -> None:
    print(f"{'variant (median round)':<28}{'peak PSS MB':>12}{'processes':>10}{'first training':>15}{'after':>7}"
          f"{'seconds':>8}   every round's peak MB")
    for name, runs in results.items():
        run = median_run(runs)
        after = f"{run['after']:.0f}" if run["after"] is not None else "-"
        print(f"{name:<28}{run['peak']:>12.0f}{run['processes']:>10}{run['training']:>15.0f}{after:>7}"
              f"{run['seconds']:>8.0f}   " + " ".join(f"{r['peak']:.0f}" for r in runs))


def parse_args():
    default_data = (os.environ.get("SSD_RACCOON")
                    or Path(__file__).resolve().parents[2] / "shared" / "data" / "raccoon")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(default_data),
                        help="a VOC dataset with trainval and test lists")
    parser.add_argument("--flags", type=shlex.split, default=None,
                        help="train_ssd.py's flags, as --flags=\"...\" (default: the low-memory recipe of "
                             "docs/training.md); the data, model directory, run length and device are the benchmark's")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10, help="training steps per epoch")
    parser.add_argument("--rounds", type=int, default=3, help="turns each variant takes")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classic-run", action="store_true",
                        help="run the classic epochs in this process, unmeasured (the benchmark starts it so)")
    args = parser.parse_args()
    if args.flags is None:
        args.flags = low_memory_recipe()
    return args


def main() -> None:
    args = parse_args()
    if args.classic_run:
        classic_run(args)
        return
    run = settings(args)
    print(f"machine: {machine()}")
    print(f"flags {shlex.join(args.flags)}: {run.net}, batch {run.batch_size}, {run.workers} workers, "
          f"{run.resolution} x {run.resolution}; {args.epochs} epochs of {args.steps} steps from scratch, each "
          f"then validated, on {args.data} ({args.device}); PSS of each variant's process tree every "
          f"{SAMPLE_SECONDS * 1000:.0f} ms, {args.rounds} rounds", flush=True)
    with tempfile.TemporaryDirectory() as directory:
        total_steps = args.epochs * args.steps
        variants = {
            "ours, with validation": (ours_command(args, f"{directory}/full", args.epochs, args.steps),
                                      OURS_TRAINED, False),
            "ours, training alone": (ours_command(args, f"{directory}/alone", 1, total_steps), OURS_TRAINED, True),
            "classic, with validation": (classic_command(args), CLASSIC_TRAINED, False),
        }
        results = {name: [] for name in variants}
        for round_index in range(args.rounds):
            for name, (command, marker, stop_at_marker) in variants.items():
                results[name].append(measure(command, marker, stop_at_marker))
                print(f"  round {round_index + 1}/{args.rounds} {name}: {results[name][-1]['peak']:.0f} MB",
                      flush=True)
    print_table(results)
    ours, alone, classic = (median_run(runs)["peak"] for runs in results.values())
    within = " ".join(f"{run['after'] / run['training']:.2f}" for run in results["ours, with validation"])
    print(f"ours: (with validation) / (training alone) {ours / alone:.2f}; within each run, after the first "
          f"training / first training: {within}")
    print(f"ours / classic, with validation: {ours / classic:.2f}")


if __name__ == "__main__":
    main()
