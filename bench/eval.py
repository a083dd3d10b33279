"""Evaluation speed, measured side by side in one run.

metrics     COCO's 12 metrics on a generated set (default 5,000 images of 640x480 with about 7 boxes
            each, 100 detections per image): faster-coco-eval, as eval_ssd.py runs it, against plain
            pycocotools on the same detections (the numbers are checked equal); our VOC metrics too.
end to end  evaluate_model (decode, resize, inference, NMS, COCO and VOC metrics) on coco128's
            val2017 with an mb1-ssd at 300 for its 80 classes: batch 1, one image at a time as the
            earlier eval_ssd.py ran, against batch 16, eval_ssd.py's default; same workers.

The variants of each part take turns for --rounds rounds, so that a busy spell of the machine slows
them alike; each one's best round (other work only ever slows a run down) and median are reported.

    python3 bench/eval.py [--images 5000] [--detections 100] [--data PATH] [--workers 2] [--rounds 2]
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from vision.datasets import CocoDataset  # noqa: E402
from vision.evaluation import evaluate_model  # noqa: E402
from vision.evaluation.category_ids import COCO_CATEGORY_IDS  # noqa: E402
from vision.evaluation.coco_metrics import STAT_NAMES, coco_metrics  # noqa: E402
from vision.evaluation.results import Results  # noqa: E402
from vision.evaluation.voc_metrics import voc_metrics  # noqa: E402
from vision.ssd import create_net  # noqa: E402

WIDTH, HEIGHT = 640, 480
DEFAULT_BATCH = 16


def generated_set(images: int, per_image: int, seed: int = 0) -> tuple[dict, Results]:
    """A COCO ground truth and detections near it: most detections jitter a true box (some with the
    wrong class), the rest are anywhere."""
    rng = np.random.default_rng(seed)
    categories = np.array(sorted(COCO_CATEGORY_IDS.values()))
    counts = rng.poisson(7, images).clip(0, 30)
    box_image = np.repeat(np.arange(1, images + 1), counts)
    true_boxes = random_boxes(rng, len(box_image))
    true_categories = rng.choice(categories, len(box_image))
    crowd = rng.random(len(box_image)) < 0.01
    truth = {
        "images": [{"id": int(i), "width": WIDTH, "height": HEIGHT} for i in range(1, images + 1)],
        "categories": [{"id": int(c), "name": name} for name, c in COCO_CATEGORY_IDS.items()],
        "annotations": [{"id": n + 1, "image_id": int(i), "category_id": int(c), "bbox": box.tolist(),
                         "area": float(box[2] * box[3]), "iscrowd": int(flag)}
                        for n, (i, c, box, flag) in enumerate(zip(box_image, true_categories, true_boxes, crowd))],
    }
    image_ids = np.repeat(np.arange(1, images + 1), per_image)
    source = rng.integers(0, len(box_image), len(image_ids))
    near = rng.random(len(image_ids)) < 0.6
    near &= np.isin(image_ids, box_image)  # images without boxes get random detections only
    source = np.where(near, _box_of_same_image(box_image, image_ids, rng), source)
    boxes = np.where(near[:, None], jitter(rng, true_boxes[source]), random_boxes(rng, len(image_ids)))
    wrong = rng.random(len(image_ids)) < 0.1
    category_ids = np.where(near & ~wrong, true_categories[source], rng.choice(categories, len(image_ids)))
    scores = np.where(near, rng.uniform(0.2, 1.0, len(image_ids)), rng.uniform(0.01, 0.6, len(image_ids)))
    corners = np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)
    return truth, Results.from_corners(image_ids, category_ids, corners, scores)


def random_boxes(rng, count: int) -> np.ndarray:
    sizes = np.exp(rng.uniform(np.log(6), np.log(400), (count, 2)))
    sizes = np.minimum(sizes, [WIDTH - 1, HEIGHT - 1])
    corners = rng.uniform(0, 1, (count, 2)) * ([WIDTH, HEIGHT] - sizes)
    return np.concatenate([corners, sizes], axis=1).round(2)


def jitter(rng, boxes: np.ndarray) -> np.ndarray:
    noise = rng.normal(0, 0.1, boxes.shape)
    moved = boxes[:, :2] + noise[:, :2] * boxes[:, 2:]
    return np.concatenate([moved, boxes[:, 2:] * np.exp(noise[:, 2:])], axis=1)


def _box_of_same_image(box_image: np.ndarray, image_ids: np.ndarray, rng) -> np.ndarray:
    """For each detection, a random true box of its image (0 where the image has none)."""
    first = np.searchsorted(box_image, image_ids, side="left")
    count = np.searchsorted(box_image, image_ids, side="right") - first
    return np.where(count > 0, first + (rng.random(len(image_ids)) * np.maximum(count, 1)).astype(int), 0)


def take_turns(variants: dict[str, Callable[[], object]], rounds: int) -> tuple[dict, dict[str, list[float]]]:
    """Each variant once per round, in turns; the last result of each and the seconds of every round."""
    results, seconds = {}, {name: [] for name in variants}
    for round_index in range(rounds):
        for name, run in variants.items():
            start = time.perf_counter()
            results[name] = run()
            seconds[name].append(time.perf_counter() - start)
        print(f"  round {round_index + 1}/{rounds}: "
              + ", ".join(f"{name} {times[-1]:.2f} s" for name, times in seconds.items()), flush=True)
    return results, seconds


def best_and_median(seconds: list[float]) -> str:
    return f"best {min(seconds):8.2f} s, median {statistics.median(seconds):8.2f} s"


def bench_metrics(images: int, per_image: int, rounds: int) -> None:
    truth, results = generated_set(images, per_image)
    image_ids = [image["id"] for image in truth["images"]]
    category_ids = [category["id"] for category in truth["categories"]]
    print(f"metrics: {images} images, {len(truth['annotations'])} true boxes, {len(results)} detections")
    metrics, seconds = take_turns({
        "faster-coco-eval": lambda: coco_metrics(truth, results, image_ids, category_ids, "faster-coco-eval"),
        "pycocotools": lambda: coco_metrics(truth, results, image_ids, category_ids, "pycocotools"),
        "VOC": lambda: voc_metrics(truth, results, image_ids, category_ids)}, rounds)
    ours, plain, voc = metrics["faster-coco-eval"], metrics["pycocotools"], metrics["VOC"]
    print(f"  faster-coco-eval (ours)  {best_and_median(seconds['faster-coco-eval'])}")
    print(f"  pycocotools              {best_and_median(seconds['pycocotools'])}")
    difference = max(abs(ours.stats[name] - plain.stats[name]) for name in STAT_NAMES)
    ratios = [min(seconds["pycocotools"]) / min(seconds["faster-coco-eval"]),
              statistics.median(seconds["pycocotools"]) / statistics.median(seconds["faster-coco-eval"])]
    print(f"  ratio                    {ratios[0]:8.1f}x faster at best, {ratios[1]:.1f}x at the median "
          f"(AP {ours.stats['AP']:.4f}, largest difference between the two over the 12 stats: {difference:.1e})")
    print(f"  VOC metrics (ours)       {best_and_median(seconds['VOC'])} (mAP {voc.mAP:.4f}, mAP07 {voc.mAP07:.4f})")


BACKGROUND_BIAS = 9.0  # gives about 3,700 (prior, class) pairs over 0.01 per image, 12 over 0.5


@torch.no_grad()
def lively_mb1_ssd(num_classes: int) -> nn.Module:
    """An untrained mb1-ssd whose scores look like a trained one's, so that NMS gets a realistic load
    (a fresh net's scores are uniform): each head's last convolution is rescaled, and BACKGROUND made
    likely for most priors."""
    torch.manual_seed(0)
    net = create_net("mb1-ssd", num_classes).eval()
    spreads = {**{head: 3.0 for head in net.classification_headers},
               **{head: 0.3 for head in net.regression_headers}}
    outputs = {}
    hooks = [head.register_forward_hook(lambda head, _, output: outputs.setdefault(head, output))
             for head in spreads]
    net(torch.randn(2, 3, 300, 300))
    for hook in hooks:
        hook.remove()
    for head, spread in spreads.items():
        last_convolution(head).weight.mul_(spread / outputs[head].std())
    for head in net.classification_headers:  # channels are anchors x classes; class 0 is BACKGROUND
        last_convolution(head).bias[0::num_classes] += BACKGROUND_BIAS
    return net


def last_convolution(head: nn.Module) -> nn.Conv2d:
    return [layer for layer in head.modules() if isinstance(layer, nn.Conv2d)][-1]


def bench_end_to_end(data: Path, workers: int, rounds: int) -> None:
    dataset = CocoDataset(data, "val")
    net = lively_mb1_ssd(len(dataset.class_names))
    print(f"end to end: evaluate_model, mb1-ssd 300, {len(dataset)} coco128 val2017 images, {workers} workers, "
          f"{torch.get_num_threads()} torch threads")
    labels = {1: "batch 1 (the earlier tools' way)", DEFAULT_BATCH: f"batch {DEFAULT_BATCH} (our default)"}
    _, seconds = take_turns({labels[batch_size]: lambda batch_size=batch_size: evaluate_model(
        net, dataset, batch_size, "cpu", workers=workers) for batch_size in labels}, rounds)
    for label, times in seconds.items():
        print(f"  {label:<34} {len(dataset) / min(times):8.2f} images/s at best, "
              f"{len(dataset) / statistics.median(times):.2f} at the median  ({best_and_median(times)})")
    one, default = seconds[labels[1]], seconds[labels[DEFAULT_BATCH]]
    print(f"  ratio                              {min(one) / min(default):8.2f}x at best, "
          f"{statistics.median(one) / statistics.median(default):.2f}x at the median")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--detections", type=int, default=100, help="per image")
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco128"
    parser.add_argument("--data", default=os.environ.get("SSD_COCO128", shared), help="coco128's root")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", "--repeats", type=int, default=2, help="turns each variant takes")
    args = parser.parse_args()
    bench_metrics(args.images, args.detections, args.rounds)
    bench_end_to_end(Path(args.data), args.workers, args.rounds)


if __name__ == "__main__":
    main()
