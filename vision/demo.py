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
    return ["train_ssd.py", "--data", data, "--model-dir", model_dir, "--net", NET, "--no-pretrained",
            "--resolution", resolution, "--epochs", epochs, "--workers", 1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo-output"))
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--resolution", type=int, default=300)
    parser.add_argument("--train-count", type=int, default=2000)
    parser.add_argument("--val-count", type=int, default=80)
    args = parser.parse_args(argv)
    out = args.out.resolve()
    data, model, evaluation, jetson = out / "data", out / "model", out / "eval", out / "eval-jetson"
    onnx = model / "ssd-mobilenet.onnx"
    example = out / "example.jpg"
    started = time.perf_counter()
    steps = [
        ("generate the built-in dataset",
         ["-m", "vision.datasets.synthetic", "--out", data, "--train-count", args.train_count,
          "--val-count", args.val_count, "--image-size", args.resolution]),
        ("validate the training images",
         ["validate_image_files.py", "--path", data / "train2017", "--annotations",
          data / "annotations" / "instances_train2017.json"]),
        ("validate the validation images",
         ["validate_image_files.py", "--path", data / "val2017", "--annotations",
          data / "annotations" / "instances_val2017.json"]),
        ("fix the annotations", ["fix_coco_annotations.py", "--path", data]),
        ("train", train_arguments(data, model, args.epochs, args.resolution)),
        ("evaluate", ["eval_ssd.py", "--trained_model", model / "checkpoint-best.pth", "--dataset", data,
                      "--output-dir", evaluation]),
        ("export to ONNX", ["onnx_export.py", "--model-dir", model]),
        ("evaluate the ONNX model as detectNet runs it",
         ["eval_ssd.py", "--onnx", onnx, "--net", NET, "--label_file", model / "labels.txt",
          "--dataset", data, "--jetson", "--output-dir", jetson]),
        ("run the example", ["run_ssd_example.py", NET, model / "checkpoint-best.pth", model / "labels.txt",
                             data / "val2017" / "000001.jpg", "--output", example]),
    ]
    for name, command in steps:
        print(f"\n=== demo: {name} ===", flush=True)
        result = subprocess.run([sys.executable, *map(str, command)], cwd=REPO)
        if result.returncode != 0:
            print(f"\ndemo failed at step '{name}' (exit code {result.returncode})", file=sys.stderr)
            return 1
    _summary(out, evaluation, jetson, onnx, example, time.perf_counter() - started)
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
