"""Training-ready batches per second on coco128: this toolkit's data path against the classic one.

ours     CocoDataset -> TransformedDataset(SSDTrainTransform) -> collate_samples in the workers
         (TorchCodec's or torchvision.io's decode, as vision.datasets.images.DECODER says; uint8
         throughout, zoom-out/crop/resize in one step), then match_priors
         for the whole batch in the main process. Normalizing the uint8 images and encoding the matched
         boxes are left to the training step on the device.
classic  the earlier tools' path (qfgaohao/pytorch-ssd, written out below): OpenCV decode, float32 numpy
         SSD augmentation with mean subtraction, then per-sample prior matching and encoding in the
         workers, default collate.

Both read the same images (those with boxes: the classic augmentation cannot crop an image without
any), batch 32, resolution 300, mb1-ssd priors, persistent workers, 3 epochs, for 0, 1 and 2 workers.
Each measurement is repeated, the two pipelines taking turns, and the best rate is kept: on a shared
machine other work only ever slows a run down. The CPU time per batch (this process and its workers
together) is printed as well: it depends much less on what else the machine runs.

First the two image decoders alone (TorchCodec, which ours uses where it loads, and torchvision.io) on the
same files, taking turns.

    python3 bench/dataloader.py [--data PATH] [--workers 0 1 2] [--epochs 3] [--repeats 3]
"""
import argparse
import gc
import os
import resource
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from numpy import random
from torch.utils.data import DataLoader, Dataset

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # a checkout, installed or not; tests/classic.py
from classic import MatchPrior  # noqa: E402
from vision.datasets import CocoDataset, TransformedDataset, collate_samples  # noqa: E402
from vision.datasets.images import DECODER, decode_with_torchvision  # noqa: E402
from vision.ssd import create_net  # noqa: E402
from vision.transforms import SSDTrainTransform  # noqa: E402
from vision.utils.box_utils import match_priors  # noqa: E402

IOU_THRESHOLD = 0.5


# ---- classic pipeline: qfgaohao/pytorch-ssd vision/transforms/transforms.py (MatchPrior: classic.py) ----

def jaccard_numpy(boxes, box):
    low = np.maximum(boxes[:, :2], box[:2])
    high = np.minimum(boxes[:, 2:], box[2:])
    inter = np.clip(high - low, 0, np.inf).prod(axis=1)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / (area + (box[2] - box[0]) * (box[3] - box[1]) - inter)


def convert_from_ints(image, boxes, labels):
    return image.astype(np.float32), boxes, labels


def photometric_distort(image, boxes, labels):
    image = image.copy()
    if random.randint(2):  # RandomBrightness
        image += random.uniform(-32, 32)
    contrast_first = random.randint(2)
    if contrast_first and random.randint(2):  # RandomContrast
        image *= random.uniform(0.5, 1.5)
    image = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    if random.randint(2):  # RandomSaturation
        image[:, :, 1] *= random.uniform(0.5, 1.5)
    if random.randint(2):  # RandomHue
        image[:, :, 0] += random.uniform(-18, 18)
        image[:, :, 0][image[:, :, 0] > 360.0] -= 360.0
        image[:, :, 0][image[:, :, 0] < 0.0] += 360.0
    image = cv2.cvtColor(image, cv2.COLOR_HSV2RGB)
    if not contrast_first and random.randint(2):
        image *= random.uniform(0.5, 1.5)
    if random.randint(2):  # RandomLightingNoise: swap channels
        image = image[:, :, random.permutation(3)]
    return image, boxes, labels


def expand(mean):
    def apply(image, boxes, labels):
        if random.randint(2):
            return image, boxes, labels
        height, width, depth = image.shape
        ratio = random.uniform(1, 4)
        left = random.uniform(0, width * ratio - width)
        top = random.uniform(0, height * ratio - height)
        canvas = np.zeros((int(height * ratio), int(width * ratio), depth), dtype=image.dtype)
        canvas[:, :, :] = mean
        canvas[int(top):int(top + height), int(left):int(left + width)] = image
        boxes = boxes.copy()
        boxes[:, :2] += (int(left), int(top))
        boxes[:, 2:] += (int(left), int(top))
        return canvas, boxes, labels
    return apply


SAMPLE_OPTIONS = (None, (0.1, None), (0.3, None), (0.7, None), (0.9, None), (None, None))


def random_sample_crop(image, boxes, labels):
    height, width, _ = image.shape
    while True:
        mode = SAMPLE_OPTIONS[random.randint(len(SAMPLE_OPTIONS))]
        if mode is None:
            return image, boxes, labels
        min_iou = -np.inf if mode[0] is None else mode[0]
        max_iou = np.inf if mode[1] is None else mode[1]
        for _ in range(50):
            w, h = random.uniform(0.3 * width, width), random.uniform(0.3 * height, height)
            if h / w < 0.5 or h / w > 2:
                continue
            left, top = random.uniform(width - w), random.uniform(height - h)
            rect = np.array([int(left), int(top), int(left + w), int(top + h)])
            overlap = jaccard_numpy(boxes, rect)
            if overlap.min() < min_iou and max_iou < overlap.max():
                continue
            centers = (boxes[:, :2] + boxes[:, 2:]) / 2.0
            mask = ((rect[0] < centers[:, 0]) & (rect[1] < centers[:, 1])
                    & (rect[2] > centers[:, 0]) & (rect[3] > centers[:, 1]))
            if not mask.any():
                continue
            cropped = boxes[mask, :].copy()
            cropped[:, :2] = np.maximum(cropped[:, :2], rect[:2]) - rect[:2]
            cropped[:, 2:] = np.minimum(cropped[:, 2:], rect[2:]) - rect[:2]
            return image[rect[1]:rect[3], rect[0]:rect[2], :], cropped, labels[mask]


def random_mirror(image, boxes, labels):
    _, width, _ = image.shape
    if random.randint(2):
        image = image[:, ::-1]
        boxes = boxes.copy()
        boxes[:, 0::2] = width - boxes[:, 2::-2]
    return image, boxes, labels


def to_percent_coords(image, boxes, labels):
    height, width, _ = image.shape
    boxes = boxes.copy()
    boxes[:, 0::2] /= width
    boxes[:, 1::2] /= height
    return image, boxes, labels


def resize(size):
    return lambda image, boxes, labels: (cv2.resize(image, (size, size)), boxes, labels)


def subtract_means(mean):
    mean = np.array(mean, dtype=np.float32)
    return lambda image, boxes, labels: (image.astype(np.float32) - mean, boxes, labels)


def to_tensor(image, boxes, labels):
    return torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1), boxes, labels


def classic_train_augmentation(size, mean):
    steps = [convert_from_ints, photometric_distort, expand(mean), random_sample_crop, random_mirror,
             to_percent_coords, resize(size), subtract_means(mean), to_tensor]

    def apply(image, boxes, labels):
        for step in steps:
            image, boxes, labels = step(image, boxes, labels)
        return image, boxes, labels
    return apply


class ClassicCocoDataset(Dataset):
    """The same images and boxes as ours, read the classic way (cv2.imread, numpy arrays)."""

    def __init__(self, dataset: CocoDataset, transform, target_transform):
        self.files = [str(dataset.image_path(index)) for index in range(len(dataset))]
        targets = [dataset.target(index) for index in range(len(dataset))]
        keep = [~target["difficult"] for target in targets]
        self.boxes = [target["boxes"][k].numpy() for target, k in zip(targets, keep)]
        self.labels = [target["labels"][k].numpy() for target, k in zip(targets, keep)]
        self.transform, self.target_transform = transform, target_transform

    def __len__(self):
        return len(self.files)

    def __getitem__(self, index):
        image = cv2.cvtColor(cv2.imread(self.files[index]), cv2.COLOR_BGR2RGB)
        image, boxes, labels = self.transform(image, self.boxes[index], self.labels[index])
        locations, labels = self.target_transform(boxes, labels)
        return image, locations, labels


# ---- measurement ----

def measure(dataset, workers, args, collate_fn=None, finish_batch=None, set_epoch=None):
    """(batches per second, CPU seconds per batch of this process and its workers together)."""
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, num_workers=workers,
                        persistent_workers=workers > 0, collate_fn=collate_fn)
    cpu_start = cpu_seconds()
    start = time.perf_counter()
    count = 0
    for epoch in range(args.epochs):
        if set_epoch:
            set_epoch(epoch)
        for batch in loader:
            if finish_batch:
                finish_batch(batch)
            count += 1
    elapsed = time.perf_counter() - start
    del loader, batch
    gc.collect()  # the persistent workers exit and are waited for, so their CPU time is counted
    return count / elapsed, (cpu_seconds() - cpu_start) / count


def decoders_compared(paths: list[Path], repeats: int) -> None:
    """Milliseconds per image of TorchCodec's decode and torchvision.io's on the same files (bytes read
    beforehand), taking turns, best of `repeats`: the speed kept by decoding with TorchCodec."""
    try:
        from torchcodec.decoders import decode_image
    except Exception:  # not installed here, or built for another torch
        print("decoders: TorchCodec does not load here; ours decodes with torchvision.io")
        return
    files = [torch.from_numpy(np.fromfile(path, dtype=np.uint8)) for path in paths]
    decoders = {"torchcodec": lambda data: decode_image(data, mode="RGB"),
                "torchvision.io": decode_with_torchvision}
    best = {}
    for _ in range(repeats):
        for name, decode in decoders.items():
            start = time.perf_counter()
            for data in files:
                decode(data)
            best[name] = min(best.get(name, float("inf")), (time.perf_counter() - start) / len(files) * 1000)
    print(f"decoders on {len(files)} images, one thread, best of {repeats}: torchcodec {best['torchcodec']:.2f} "
          f"ms/image, torchvision.io {best['torchvision.io']:.2f} ms/image; "
          f"torchcodec / torchvision.io time {best['torchcodec'] / best['torchvision.io']:.2f}")


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    default_data = (os.environ.get("SSD_COCO128")
                    or Path(__file__).resolve().parents[2] / "shared" / "data" / "coco128")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(default_data))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--resolution", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads of the main process (workers use 1): more threads spin "
                             "against the workers on a small machine")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    dataset = CocoDataset(args.data, "train", include_negatives=False)
    net = create_net("mb1-ssd", len(dataset.class_names), args.resolution)
    priors = net.priors
    mean = net.mean.flatten().tolist()
    ours = TransformedDataset(dataset, SSDTrainTransform(args.resolution, mean), seed=0)
    classic = ClassicCocoDataset(dataset, classic_train_augmentation(args.resolution, mean),
                                 MatchPrior(priors, IOU_THRESHOLD))

    def match_batch(batch):  # normalizing and encoding are left to the device, as in training
        match_priors(batch.boxes, batch.labels, priors, IOU_THRESHOLD)

    print(f"{len(dataset)} images, batch {args.batch_size}, resolution {args.resolution}, "
          f"{len(priors)} priors, {args.epochs} epochs, best of {args.repeats}, "
          f"{torch.get_num_threads()} torch threads in the main process, {os.cpu_count()} CPUs; "
          f"ours decodes with {DECODER}")
    decoders_compared([dataset.image_path(index) for index in range(len(dataset))], args.repeats)
    rates, costs = {}, {}
    for _ in range(args.repeats):
        for workers in args.workers:
            runs = {"classic": measure(classic, workers, args),
                    "ours": measure(ours, workers, args, collate_samples, match_batch, ours.set_epoch)}
            for name, (rate, cost) in runs.items():
                rates[name, workers] = max(rates.get((name, workers), 0.0), rate)
                costs[name, workers] = min(costs.get((name, workers), float("inf")), cost)
    print(f"{'workers':>7} | {'batches/s classic':>17} {'ours':>6} {'ours/classic':>12} | "
          f"{'CPU s/batch classic':>19} {'ours':>6} {'classic/ours':>12}")
    for workers in args.workers:
        rate_c, rate_o = rates["classic", workers], rates["ours", workers]
        cost_c, cost_o = costs["classic", workers], costs["ours", workers]
        print(f"{workers:>7} | {rate_c:>17.2f} {rate_o:>6.2f} {rate_o / rate_c:>12.2f} | "
              f"{cost_c:>19.3f} {cost_o:>6.3f} {cost_c / cost_o:>12.2f}")

if __name__ == "__main__":
    main()
