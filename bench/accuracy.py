"""Accuracy at equal time on real data: train_ssd.py's recipe and torchvision's SSDlite recipe, side by side.

For each dataset, from scratch (no weights are downloaded), on the same training images, with the same
wall-clock budget and thread count, one after the other in one run:

ours         train_ssd.py run as a user runs it, with --recipe's flags (default: mb3-large-ssd-lite from
             scratch, which train_ssd.py trains with that net's recipe, vision/training/recipes.py: the
             same MobileNetV3-Large backbone as torchvision's net). A first run of one epoch, not
             counted, measures from its train.log the seconds of an epoch (training, validation,
             checkpoints) and of the rest (start-up); the measured run then gets the most epochs whose
             whole run fits the budget.
torchvision  ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=K+1), trained
             here by its own loss (model(images, targets)) with torchvision's reference recipe
             (references/detection, SSDlite) scaled to the budget: SGD momentum 0.9, lr 0.15 per 192
             images scaled to --tv-batch-size, weight decay 4e-5, a linear warm-up over the first epoch,
             then cosine per epoch; random IoU crop and flip (--tv-augmentation hflip: flips only);
             training images without boxes left out and the rest decoded once, kept in memory. The clock
             runs from the first decode; the first epoch's seconds decide the epoch count: the most
             epochs that end within the budget.

Both are scored by the same command, eval_ssd.py --detections FILE --annotations FILE, on the test split
(VOC test.txt, COCO val2017): ours' detections are those eval_ssd.py --trained_model writes for its
checkpoint-last.pth, torchvision's are written here in the same format after its own post-processing
(score 0.001, NMS 0.55, 300 per image). Each side's training seconds are printed as measured.

--datasets takes names or dataset folders: raccoon and coco128 (../shared/data/<name>, or $SSD_RACCOON,
$SSD_COCO128), small-shapes (the built-in generator with --small-shapes-sizes objects, written to --out).

With several --seeds, both sides run once per seed and each side's mean is printed too: on raccoon's 40
test images one run's AP50 moves by about 0.1 from seed to seed.

    python3 bench/accuracy.py [--budget 780] [--datasets raccoon small-shapes coco128] [--seeds 0 1 2] [--threads 2]
                              [--workers 1] [--recipe="--net ... --lr ..."] [--resolution R]
                              [--tv-augmentation ssdlite|hflip] [--tv-batch-size 24] [--out DIR]
"""
import argparse
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.models.detection import ssdlite320_mobilenet_v3_large
from torchvision.transforms import v2

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
from vision.datasets import open_dataset  # noqa: E402
from vision.datasets.synthetic import generate  # noqa: E402
from vision.evaluation.ground_truth import ground_truth  # noqa: E402
from vision.training.precision import describe_device  # noqa: E402
from vision.utils.fileio import atomic_write_json  # noqa: E402
from vision.utils.jsonfile import read_json  # noqa: E402

RECIPE = "--net mb3-large-ssd-lite --no-pretrained"  # the net's from-scratch recipe, vision/training/recipes.py
SHARED = {"raccoon": "SSD_RACCOON", "coco128": "SSD_COCO128"}  # name -> environment variable of its path
SMALL_SHAPES = "small-shapes"
CLASSES_SHOWN = 8  # per-class AP50 in the table up to this many classes with test boxes (coco128 has ~40)
LOG_TIME = "%Y-%m-%d %H:%M:%S,%f"  # train.log's asctime
TRAINING_STARTS = "steps per epoch"  # train.log's line just before the first epoch
TRAINING_DONE = "done: "
TV_LR_PER_IMAGE = 0.15 / 192  # the reference: --lr 0.15 on 8 GPUs of 24 images
TV_MOMENTUM, TV_WEIGHT_DECAY = 0.9, 4e-5
TV_WARMUP_FACTOR, TV_WARMUP_MAX_STEPS = 0.001, 1000


class BenchError(Exception):
    """A problem with the settings or the data: one line, exit code 2."""


# ---- data ----

def dataset_path(name: str, out: Path, sizes: tuple[float, float]) -> Path:
    """A dataset's folder: a shared one by name, the generated small shapes, or a folder given."""
    if name == SMALL_SHAPES:
        return generate(out / "data" / SMALL_SHAPES, train_count=800, val_count=200, object_sizes=sizes)
    if name in SHARED:
        path = Path(os.environ.get(SHARED[name]) or REPO.parent / "shared" / "data" / name)
    else:
        path = Path(name)
    if not path.is_dir():
        raise BenchError(f"{path}: dataset folder not found" + (f" (set {SHARED[name]})" if name in SHARED else ""))
    return path


def write_ground_truth(data: Path, class_names: list[str], path: Path) -> Path:
    """The test split's ground truth as a COCO instances file, in the category ids eval_ssd.py writes
    detections in for a model of these classes."""
    test_set = open_dataset(data, "val", class_order=class_names[1:])
    atomic_write_json(path, ground_truth(test_set).coco)
    return path


# ---- ours: train_ssd.py as a user runs it ----

def run_script(command: list, threads: int) -> None:
    """Run one of the toolkit's scripts; when it fails (it has printed its one-line error), stop."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    result = subprocess.run([sys.executable, *map(str, command)], cwd=REPO, env=env)
    if result.returncode != 0:
        raise BenchError(f"{command[0]} failed (exit code {result.returncode}): {shlex.join(map(str, command))}")


def train_command(args, data: Path, model_dir: Path, epochs: int) -> list:
    """The recipe, then the benchmark's own settings (later flags win)."""
    resolution = ["--resolution", args.resolution] if args.resolution else []
    return ["train_ssd.py", *args.recipe, "--data", data, "--model-dir", model_dir, "--epochs", epochs,
            "--workers", args.workers, "--device", "cpu", "--seed", args.seed, *resolution]


def fit_epochs(args, data: Path, scratch: Path) -> int:
    """The most epochs whose whole run fits the budget, from a one-epoch run of the same recipe."""
    started = time.perf_counter()
    run_script(train_command(args, data, scratch, 1), args.threads)
    whole = time.perf_counter() - started
    epoch = epoch_seconds(scratch / "train.log")
    epochs = max(1, math.floor((args.budget - (whole - epoch)) / epoch))
    print(f"accuracy.py: ours: one epoch {epoch:.1f} s, start-up and the rest {whole - epoch:.1f} s: "
          f"{epochs} epochs fit {args.budget:.0f} s", flush=True)
    return epochs


def epoch_seconds(log: Path) -> float:
    """Seconds from the start of the first epoch to the end of the run, in a one-epoch run's train.log
    (the last run's, where the file holds several)."""
    times = {}
    for line in log.read_text().splitlines():
        for marker in (TRAINING_STARTS, TRAINING_DONE):
            if marker in line:
                times[marker] = datetime.strptime(" ".join(line.split()[:2]), LOG_TIME)
    if len(times) != 2:
        raise BenchError(f"{log}: no start or end of the first epoch found")
    return (times[TRAINING_DONE] - times[TRAINING_STARTS]).total_seconds()


def ours(args, data: Path, out: Path) -> dict:
    """Train with the recipe; its detections on the test split and its epochs and training seconds."""
    epochs = fit_epochs(args, data, out / "probe")
    started = time.perf_counter()
    run_script(train_command(args, data, out / "model", epochs), args.threads)
    seconds = time.perf_counter() - started
    run_script(["eval_ssd.py", "--trained_model", out / "model" / "checkpoint-last.pth", "--dataset", data,
                "--device", "cpu", "--workers", args.workers, "--output-dir", out / "eval-model"], args.threads)
    return {"epochs": epochs, "seconds": seconds, "detections": out / "eval-model" / "detections.json"}


# ---- torchvision: ssdlite320_mobilenet_v3_large by its reference recipe ----

class Preloaded(Dataset):
    """Training images decoded once, with their boxes, through torchvision's v2 transforms."""

    def __init__(self, dataset, transform):
        self.items = []
        for index in range(len(dataset)):
            item = dataset[index]
            if item is None:  # unreadable: the reader has warned
                continue
            image, target = item
            wanted = ~target["difficult"]  # not training targets, as in train_ssd.py
            if wanted.any():  # the reference leaves out images without boxes
                boxes = tv_tensors.BoundingBoxes(target["boxes"][wanted], format="XYXY",
                                                 canvas_size=tuple(image.shape[1:]))
                self.items.append((tv_tensors.Image(image), boxes, target["labels"][wanted]))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        image, boxes, labels = self.items[index]
        return self.transform(image, {"boxes": boxes, "labels": labels})


def tv_transform(augmentation: str) -> v2.Compose:
    """references/detection/presets.py's training preset: 'ssdlite' or flips only."""
    crop = [v2.RandomIoUCrop()] if augmentation == "ssdlite" else []
    return v2.Compose([*crop, v2.RandomHorizontalFlip(p=0.5), v2.ToDtype(torch.float32, scale=True),
                       v2.SanitizeBoundingBoxes(), v2.ToPureTensor()])


def tv_model(classes: int, resolution: int | None) -> torch.nn.Module:
    model = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=classes)
    if resolution:  # its anchors are relative to the input, so another size needs only its transform
        model.transform.fixed_size = (resolution, resolution)
    return model


def tv_train(args, data: Path) -> tuple[torch.nn.Module, list[str], dict]:
    """Train within the budget; the model, its class names and its epochs and training seconds."""
    started = time.perf_counter()
    train_set = open_dataset(data, "train")
    images = Preloaded(train_set, tv_transform(args.tv_augmentation))
    torch.manual_seed(args.seed)
    loader = DataLoader(images, args.tv_batch_size, shuffle=True, drop_last=True, num_workers=args.workers,
                        collate_fn=lambda batch: tuple(zip(*batch)), persistent_workers=args.workers > 0)
    if len(loader) == 0:
        raise BenchError(f"{data}: fewer training images with boxes ({len(images)}) than --tv-batch-size")
    model = tv_model(len(train_set.class_names), args.resolution)
    lr = args.tv_batch_size * TV_LR_PER_IMAGE
    optimizer = torch.optim.SGD(model.parameters(), lr, momentum=TV_MOMENTUM, weight_decay=TV_WEIGHT_DECAY)
    model.train()
    epochs, epoch = 1, 0
    while epoch < epochs:
        step_ends = tv_epoch(model, optimizer, loader, lr, epoch, epochs)
        if epoch == 0:  # the cosine's first epoch is at the full rate whatever the count: decide it now
            seconds = steady_epoch_seconds(step_ends)
            epochs = 1 + max(0, math.floor((args.budget - (time.perf_counter() - started)) / seconds))
            print(f"accuracy.py: torchvision: an epoch takes {seconds:.1f} s after the first steps, {epochs} "
                  f"epochs fit {args.budget:.0f} s", flush=True)
        epoch += 1
    return model, train_set.class_names, {"epochs": epochs, "seconds": time.perf_counter() - started}


def steady_epoch_seconds(step_ends: list[float]) -> float:
    """An epoch's seconds at the pace of its steps after the first two (which also start the workers and
    warm up the kernels): timed on the whole first epoch, torchvision's side stopped well short of the
    budget (23.1 s for its first epoch, about 17.6 for the later ones, on raccoon)."""
    if len(step_ends) <= 3:
        return step_ends[-1] - step_ends[0]
    return (step_ends[-1] - step_ends[2]) / (len(step_ends) - 3) * (len(step_ends) - 1)


def tv_epoch(model, optimizer, loader, lr: float, epoch: int, epochs: int) -> list[float]:
    """One epoch at the reference's rate: cosine over epochs (CosineAnnealingLR stepped per epoch), and a
    linear warm-up from 0.001x over the first epoch's steps. The times its steps ended, after its start."""
    warmup = min(TV_WARMUP_MAX_STEPS, len(loader) - 1) if epoch == 0 else 0
    step_ends = [time.perf_counter()]
    cosine = lr * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
    for step, (images, targets) in enumerate(loader):
        factor = TV_WARMUP_FACTOR + (1 - TV_WARMUP_FACTOR) * step / warmup if step < warmup else 1.0
        for group in optimizer.param_groups:
            group["lr"] = cosine * factor
        losses = model(list(images), list(targets))
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
        step_ends.append(time.perf_counter())
    return step_ends


@torch.inference_mode()
def tv_detections(model, data: Path, class_names: list[str], batch_size: int) -> list[dict]:
    """The model's detections on the test split, in COCO's results format and eval_ssd.py's ids."""
    test_set = open_dataset(data, "val", class_order=class_names[1:])
    truth = ground_truth(test_set)
    model.eval()
    detections = []
    positions = [index for index, image_id in enumerate(truth.image_ids) if image_id is not None]
    for first in range(0, len(positions), batch_size):
        batch = positions[first:first + batch_size]
        images = [v2.functional.to_dtype(test_set[index][0], torch.float32, scale=True) for index in batch]
        for index, found in zip(batch, model(images)):
            for box, label, score in zip(found["boxes"].tolist(), found["labels"].tolist(), found["scores"].tolist()):
                if label in truth.category_of_label:
                    detections.append({"image_id": truth.image_ids[index],
                                       "category_id": truth.category_of_label[label],
                                       "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]],
                                       "score": score})
    return detections


def torchvision_side(args, data: Path, out: Path) -> dict:
    model, class_names, result = tv_train(args, data)
    path = out / "detections.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, tv_detections(model, data, class_names, batch_size=16))
    return {**result, "detections": path}


# ---- scoring and the table ----

def score(detections: Path, annotations: Path, out: Path, threads: int) -> dict:
    """eval_ssd.py's metrics of saved detections: the same code for both sides."""
    run_script(["eval_ssd.py", "--detections", detections, "--annotations", annotations, "--output-dir", out],
               threads)
    return read_json(out / "metrics.json")


METRICS = ("AP", "AP50", "AP50 small", "AP50 medium", "AP50 large")


def figures(metrics: dict) -> dict:
    """The table's numbers from eval_ssd.py's metrics (-1: no ground truth of that kind)."""
    coco, sizes = metrics["coco"], metrics["coco_AP50_by_size"]
    return dict(zip(METRICS, (coco["AP"], coco["AP50"], sizes["small"], sizes["medium"], sizes["large"])))


def row(dataset: str, side: str, seed: str, result: dict, metrics: dict) -> str:
    present = sorted((entry for entry in metrics["per_class"] if entry["ground_truth"]),
                     key=lambda entry: entry["name"])
    per_class = (", ".join(f"{entry['name']} {number(entry['ap50'])}" for entry in present)
                 if len(present) <= CLASSES_SHOWN else f"{len(present)} classes: see {result['metrics']}")
    values = [dataset, side, seed, str(result["epochs"]), f"{result['seconds']:.0f}",
              *(number(value) for value in figures(metrics).values()), per_class]
    return "| " + " | ".join(values) + " |"


def mean_row(dataset: str, side: str, runs: list[tuple[dict, dict]]) -> str:
    """A side's mean over the seeds: single runs on a small test split move by several AP50 points."""
    epochs = "/".join(str(result["epochs"]) for result, _ in runs)
    seconds = sum(result["seconds"] for result, _ in runs) / len(runs)
    means = [sum(figures(metrics)[name] for _, metrics in runs) / len(runs) for name in METRICS]
    return "| " + " | ".join([dataset, f"**{side}**", f"mean of {len(runs)}", epochs, f"{seconds:.0f}",
                               *(f"**{number(value)}**" for value in means), ""]) + " |"


def number(value: float) -> str:
    return "-" if value < 0 else f"{value:.3f}"  # -1: no ground truth of that kind


def machine() -> str:
    return f"{describe_device(torch.device('cpu'))}, torch {torch.__version__}"


def bench_dataset(args, name: str, out: Path) -> list[str]:
    """Both sides on one dataset, once per seed: their table rows, and each side's mean over the seeds."""
    data = dataset_path(name, args.out_root, tuple(args.small_shapes_sizes))
    label = Path(name).name
    out.mkdir(parents=True, exist_ok=True)
    class_names = open_dataset(data, "train").class_names  # the class order train_ssd.py gives the model
    annotations = write_ground_truth(data, class_names, out / "test-annotations.json")
    runs = {"ours": [], "torchvision": []}
    rows = []
    for seed in args.seeds:
        args.seed = seed
        seed_out = out / f"seed-{seed}"
        print(f"\n=== accuracy.py: {label} ({data}), seed {seed}: ours ===", flush=True)
        results = {"ours": ours(args, data, seed_out / "ours")}
        print(f"\n=== accuracy.py: {label}, seed {seed}: torchvision ===", flush=True)
        results["torchvision"] = torchvision_side(args, data, seed_out / "torchvision")
        for side, result in results.items():
            result["metrics"] = seed_out / side / "eval" / "metrics.json"
            metrics = score(result["detections"], annotations, result["metrics"].parent, args.threads)
            runs[side].append((result, metrics))
            rows.append(row(label, side, str(seed), result, metrics))
    if len(args.seeds) > 1:
        rows += [mean_row(label, side, side_runs) for side, side_runs in runs.items()]
    return rows


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=780, help="training seconds per side and dataset")
    parser.add_argument("--datasets", nargs="+", default=["raccoon", SMALL_SHAPES, "coco128"],
                        help=f"raccoon, coco128, {SMALL_SHAPES} or dataset folders")
    parser.add_argument("--threads", type=int, default=2, help="compute threads of each side")
    parser.add_argument("--workers", type=int, default=1, help="data loading processes of each side")
    parser.add_argument("--recipe", type=shlex.split, default=shlex.split(RECIPE),
                        help=f"train_ssd.py's flags, as --recipe=\"...\" (default: {RECIPE})")
    parser.add_argument("--resolution", type=int, default=None,
                        help="input size of both sides (default: each its own, ours the recipe's, torchvision 320)")
    parser.add_argument("--tv-augmentation", choices=["ssdlite", "hflip"], default="ssdlite")
    parser.add_argument("--tv-batch-size", type=int, default=24)
    parser.add_argument("--small-shapes-sizes", type=float, nargs=2, default=[12, 48], metavar=("MIN", "MAX"),
                        help=f"{SMALL_SHAPES}' object sizes in pixels, in images of 300 x 300")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="a run of both sides per seed, and each side's mean (default: 0)")
    parser.add_argument("--out", type=Path, default=None, help="where everything goes (default: a temporary folder)")
    args = parser.parse_args(argv)
    args.seed = args.seeds[0]  # the run's seed: bench_dataset sets each in turn
    for name in ("budget", "threads", "tv_batch_size"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"machine: {machine()}; {args.threads} threads and {args.workers} data workers a side, "
          f"budget {args.budget:.0f} s a side; ours: {shlex.join(args.recipe)}; torchvision: "
          f"ssdlite320_mobilenet_v3_large, {args.tv_augmentation}, batch {args.tv_batch_size}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        args.out_root = (args.out or Path(scratch)).resolve()
        try:
            rows = [line for name in args.datasets
                    for line in bench_dataset(args, name, args.out_root / Path(name).name)]
        except BenchError as error:
            print(f"accuracy.py: {error}", file=sys.stderr)
            return 2
    print(f"\nmachine: {machine()}")
    print("| dataset | side | seed | epochs | train s | AP | AP50 | AP50 small | AP50 medium | AP50 large | AP50 per class |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
