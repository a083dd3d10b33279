"""Does --amp cost accuracy? The demo's model trained with and without it, side by side in one run.

Generates the built-in dataset (or uses --data), then trains the demo's recipe (vision/demo.py:
mb3-small-ssd-lite from scratch, flip only) with train_ssd.py as a user would, once in float32 and once
with --amp (bf16 on CPUs that have it and on Ampere+ GPUs, else fp16 with a grad scaler), from the same
seed; and once more in float32 from another seed, so that the float32 seed-to-seed difference shows
how large "noise" is. Each model is scored by eval_ssd.py on the validation split.

    python3 bench/amp_accuracy.py [--epochs 5] [--device cpu|cuda] [--data PATH] [--out DIR]
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from vision.datasets.synthetic import generate  # noqa: E402
from vision.demo import train_arguments  # noqa: E402

# (name, extra train_ssd.py arguments): the float32 run of another seed measures the noise.
RUNS = [("fp32", ["--seed", "0"]), ("amp", ["--seed", "0", "--amp"]), ("fp32, seed 1", ["--seed", "1"])]


def run(command: list) -> None:
    """Run a script or module; when it fails (it has printed its one-line error), stop with its exit code."""
    result = subprocess.run([sys.executable, *map(str, command)], cwd=REPO)
    if result.returncode != 0:
        name = command[1] if command[0] == "-m" else command[0]
        sys.exit(f"amp_accuracy.py: {name} failed (exit code {result.returncode})")


def train_and_score(data: Path, out: Path, extra: list, epochs: int, device: str | None) -> dict:
    """Train one model; its eval_ssd.py metrics and training minutes."""
    device_arguments = ["--device", device] if device else []
    started = time.perf_counter()
    run(train_arguments(data, out, epochs) + extra + device_arguments)
    minutes = (time.perf_counter() - started) / 60
    run(["eval_ssd.py", "--trained_model", out / "checkpoint-last.pth", "--dataset", data,
         "--output-dir", out / "eval", *device_arguments])
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    return {"AP": metrics["coco"]["AP"], "AP50": metrics["coco"]["AP50"], "VOC mAP": metrics["voc"]["mAP"],
            "minutes": minutes}


def report(results: dict) -> None:
    print(f"\n{'run':<14} {'COCO AP':>8} {'AP50':>8} {'VOC mAP':>8} {'minutes':>8}")
    for name, row in results.items():
        print(f"{name:<14} {row['AP']:8.3f} {row['AP50']:8.3f} {row['VOC mAP']:8.3f} {row['minutes']:8.1f}")
    fp32, amp, other = results["fp32"], results["amp"], results["fp32, seed 1"]
    for metric in ("AP", "AP50"):
        print(f"{metric}: amp - fp32 (same seed) {amp[metric] - fp32[metric]:+.3f}; "
              f"fp32 seed 1 - seed 0 {other[metric] - fp32[metric]:+.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: train_ssd.py's)")
    parser.add_argument("--data", type=Path, default=None, help="a COCO-layout dataset (default: generated)")
    parser.add_argument("--out", type=Path, default=None, help="where the models go (default: a temporary folder)")
    args = parser.parse_args()
    if args.data is not None and not args.data.is_dir():
        parser.error(f"--data {args.data}: not a directory")
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        data = args.data or generate(out / "data", train_count=2000, val_count=80)
        results = {name: train_and_score(data, out / name.replace(", ", "-").replace(" ", ""), extra,
                                         args.epochs, args.device)
                   for name, extra in RUNS}
    report(results)


if __name__ == "__main__":
    main()
