"""`make demo`: the whole pipeline on the built-in dataset, each step run as a user would run it.

generate data -> validate images -> fix annotations -> train -> evaluate -> export ONNX ->
evaluate the ONNX as detectNet would -> run the example -> summary. A failing step stops the demo
with its name.
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NET = "mb3-small-ssd-lite"  # the fastest net to train on a CPU
EPOCHS = 4


def train_arguments(data: Path, model_dir: Path, epochs: int = EPOCHS, resolution: int = 300) -> list:
    """train_ssd.py's arguments for the demo's model (bench/amp_accuracy.py trains it too): the net's
    from-scratch recipe (vision/training/recipes.py), which the demo's runs measured."""
    return ["-m", "vision.commands.train", "--data", data, "--model-dir", model_dir, "--net", NET,
            "--no-pretrained", "--resolution", resolution, "--epochs", epochs, "--workers", 1]


def steps(out: Path, epochs: int = EPOCHS, resolution: int = 300, train_count: int = 2000,
          val_count: int = 80) -> list[tuple[str, list]]:
    """The demo's steps: (name, the arguments of `python`). Each runs a module of the package, so the
    demo works from an installed package as from a checkout."""
    data, model, evaluation, jetson = out / "data", out / "model", out / "eval", out / "eval-jetson"
    return [
        ("generate the built-in dataset",
         ["-m", "vision.datasets.synthetic", "--out", data, "--train-count", train_count,
          "--val-count", val_count, "--image-size", resolution]),
        ("validate the training images",
         ["-m", "vision.commands.validate_images", "--path", data / "train2017", "--annotations",
          data / "annotations" / "instances_train2017.json"]),
        ("validate the validation images",
         ["-m", "vision.commands.validate_images", "--path", data / "val2017", "--annotations",
          data / "annotations" / "instances_val2017.json"]),
        ("fix the annotations", ["-m", "vision.commands.fix_coco", "--path", data]),
        ("train", train_arguments(data, model, epochs, resolution)),
        ("evaluate", ["-m", "vision.commands.eval", "--trained_model", model / "checkpoint-best.pth",
                      "--dataset", data, "--output-dir", evaluation]),
        ("export to ONNX", ["-m", "vision.commands.export", "--model-dir", model]),
        ("evaluate the ONNX model as detectNet runs it",
         ["-m", "vision.commands.eval", "--onnx", model / "ssd-mobilenet.onnx", "--net", NET, "--label_file",
          model / "labels.txt", "--dataset", data, "--jetson", "--output-dir", jetson]),
        ("run the example", [REPO / "run_ssd_example.py", NET, model / "checkpoint-best.pth", model / "labels.txt",
                             data / "val2017" / "000001.jpg", "--output", out / "example.jpg"]),
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo-output"))
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--resolution", type=int, default=300)
    parser.add_argument("--train-count", type=int, default=2000)
    parser.add_argument("--val-count", type=int, default=80)
    args = parser.parse_args(argv)
    out = args.out.resolve()
    started = time.perf_counter()
    for name, command in steps(out, args.epochs, args.resolution, args.train_count, args.val_count):
        print(f"\n=== demo: {name} ===", flush=True)
        result = subprocess.run([sys.executable, *map(str, command)])
        if result.returncode != 0:
            print(f"\ndemo failed at step '{name}' (exit code {result.returncode})", file=sys.stderr)
            return 1
    _summary(out, out / "eval", out / "eval-jetson", out / "model" / "ssd-mobilenet.onnx", out / "example.jpg",
             time.perf_counter() - started)
    return 0


def _summary(out: Path, evaluation: Path, jetson: Path, onnx: Path, example: Path, seconds: float) -> None:
    metrics = json.loads((evaluation / "metrics.json").read_text())
    on_jetson = json.loads((jetson / "metrics.json").read_text())
    print(f"\n=== demo: done in {seconds / 60:.1f} minutes ===")
    print(f"COCO AP {metrics['coco']['AP']:.3f}, AP50 {metrics['coco']['AP50']:.3f}; "
          f"VOC mAP {metrics['voc']['mAP']:.3f} (all-point), {metrics['voc']['mAP07']:.3f} (2007 11-point)")
    print(f"as detectNet would run the ONNX model: COCO AP50 {on_jetson['coco']['AP50']:.3f}, "
          f"VOC mAP {on_jetson['voc']['mAP']:.3f}")
    for label, path in [("dataset", out / "data"), ("checkpoints, labels.txt, train.log, tensorboard/",
                                                    out / "model"),
                        ("metrics.json, per-class table, PR curves, drawn images", evaluation),
                        ("ONNX model for detectNet", onnx), ("detectNet emulation results", jetson),
                        ("example detections", example)]:
        print(f"  {label}: {path}")


if __name__ == "__main__":
    sys.exit(main())
