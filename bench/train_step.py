"""Training step speed on coco128, per phase, side by side in one run.

steps        for each net (mb1-ssd, mb2-ssd-lite at 300, batch 32), the milliseconds of each phase
             (data wait, normalize, matching, forward, loss, backward, optimizer step):
             classic  the earlier tools' step: OpenCV + float numpy augmentation, normalization and
                      per-sample prior matching in the data workers (bench/dataloader.py's pipeline),
                      fp32, channels-first, the earlier MultiboxLoss;
             ours     this toolkit's step (vision/training/step.py): uint8 batches from
                      SSDTrainTransform, normalization and batched matching on the device, the
                      vectorized MultiboxLoss; in fp32, channels-last, AMP and AMP with
                      channels-last (AMP as train_ssd.py --amp picks it: float32 on a device without
                      a native reduced precision, so those rows show what --amp costs there).
             All variants of a net start from the same weights, read the same images in the same
             order, and the "ours" variants get the very same batches: their losses, printed step by
             step, show whether mixed precision changes what the net learns.
matching     matched targets + loss alone on coco128's real boxes (the true number per image),
             batched against the earlier per-image loop, at 3000 and 12828 priors (mb1-ssd at 300
             and 640), on --device.
torchvision  ssdlite320_mobilenet_v3_large's training step (matching and loss inside its forward), as
             context, fp32 and AMP with channels-last.

The first line says what the device is (CPU: PyTorch's kernel level and whether bf16 is native; GPU:
name and compute capability). ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 limit PyTorch and
oneDNN to their AVX2 kernels: on a newer x86 CPU, that shows what an AVX2 CPU's kernels do.

The machine may be shared: variants take turns, round after round, each round with a fresh data
loader (so no variant's workers run during another's steps); each variant's fastest round (the mean
of its timed steps) is reported, as other work only ever slows a round down. Each phase ends with a
CUDA synchronize on a GPU, so its time is its own.

    python3 bench/train_step.py [--device cpu|cuda] [--nets mb1-ssd mb2-ssd-lite] [--batch-size 32]
                                [--rounds 4 --warmup 1 --steps 1] [--workers 2] [--threads N]
                                [--parts steps matching torchvision] [--data PATH]
"""
import argparse
import copy
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Sampler, default_collate
from torchvision.models.detection import ssdlite320_mobilenet_v3_large

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # a checkout, installed or not; tests/classic.py
from classic import MatchPrior, assign_priors, classic_multibox_loss  # noqa: E402
from dataloader import ClassicCocoDataset, classic_train_augmentation  # noqa: E402
from vision.datasets import CocoDataset, TransformedDataset, collate_samples  # noqa: E402
from vision.nn.multibox_loss import MultiboxLoss  # noqa: E402
from vision.ssd import create_net  # noqa: E402
from vision.ssd.nets import NETS  # noqa: E402
from vision.training.precision import Precision, choose_precision, describe_device  # noqa: E402
from vision.training.step import PHASES as STEP_PHASES  # noqa: E402
from vision.training.step import matched_targets, train_step  # noqa: E402
from vision.transforms import SSDTrainTransform  # noqa: E402
from vision.utils.box_utils import center_to_corner, encode  # noqa: E402

IOU_THRESHOLD = 0.5
PHASES = ("data", *STEP_PHASES)
# train_ssd.py's defaults, for every variant alike
LEARNING_RATE, MOMENTUM, WEIGHT_DECAY, NEGATIVES_PER_EMPTY_IMAGE = 0.01, 0.9, 5e-4, 8
TORCHVISION_RESOLUTION, TORCHVISION_CLASSES = 320, 91


def classic_augmentation(size: int, mean, std: float):
    """bench/dataloader.py's classic augmentation plus the earlier tools' division by std (their
    TrainAugmentation ends with `img / std`), so the classic net sees the inputs ours sees."""
    augment = classic_train_augmentation(size, mean)

    def apply(image, boxes, labels):
        image, boxes, labels = augment(image, boxes, labels)
        return image / std, boxes, labels
    return apply


# ---- timing ----

class Clock:
    """Milliseconds per phase of one step. On CUDA each lap first waits for the queued work, so a
    phase is charged with the kernels it launched."""

    def __init__(self, device: torch.device):
        self.device = device
        self.phases: dict[str, float] = {}
        self.last = self._now()

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def lap(self, phase: str) -> None:
        now = self._now()
        self.phases[phase] = self.phases.get(phase, 0.0) + (now - self.last) * 1000
        self.last = now


class EndlessSampler(Sampler):
    """Shuffled passes over the dataset without end: the workers keep prefetching across passes, as
    within one long epoch, instead of restarting every few batches on a 95-image set."""

    def __init__(self, size: int, seed: int):
        self.size, self.seed = size, seed

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed)
        while True:
            yield from torch.randperm(self.size, generator=generator).tolist()


@dataclass
class Variant:
    name: str
    step: Callable  # (variant, batch, clock) -> loss
    loader: Callable[[int], DataLoader]  # round -> a fresh loader
    model: nn.Module
    optimizer: torch.optim.Optimizer
    precision: Precision
    device: torch.device
    net: nn.Module | None = None  # the SSD inside `model` (None for torchvision's)
    loss_fn: nn.Module | None = None
    rounds: list[dict[str, float]] = field(default_factory=list)  # mean ms per phase of each round
    losses: list[float] = field(default_factory=list)

    def best_round(self) -> dict[str, float]:
        """The fastest round: on a shared machine other work only ever slows a round down."""
        return min(self.rounds, key=lambda phases: sum(phases.values()))

    def total_ms(self) -> float:
        return sum(self.best_round().values())


def run_round(variant: Variant, round_index: int, args) -> None:
    """Warm-up and timed steps from a fresh loader, whose workers stop when the round ends."""
    batches = iter(variant.loader(round_index))
    timed = []
    for step in range(args.warmup + args.steps):
        clock = Clock(variant.device)
        batch = next(batches)
        clock.lap("data")
        variant.losses.append(variant.step(variant, batch, clock))
        if step >= args.warmup:
            timed.append(clock.phases)
    del batches  # shuts the workers down before the next variant runs
    variant.rounds.append({phase: statistics.mean(phases[phase] for phases in timed) for phase in timed[0]})


def run_in_turns(variants: list[Variant], args) -> None:
    for round_index in range(args.rounds):
        for variant in variants:
            run_round(variant, round_index, args)
            print(f"  round {round_index + 1}/{args.rounds} {variant.name}: "
                  f"{sum(variant.rounds[-1].values()):.0f} ms/step", flush=True)


# ---- the steps ----

def backward_and_step(variant: Variant, loss: Tensor, clock: Clock) -> float:
    """The classic and torchvision steps' end, as train_step's: zero the gradients, backward (scaled for
    fp16), optimizer step."""
    scaler = variant.precision.scaler
    variant.optimizer.zero_grad(set_to_none=True)
    (scaler.scale(loss) if scaler else loss).backward()
    clock.lap("backward")
    if scaler:
        scaler.step(variant.optimizer)
        scaler.update()
    else:
        variant.optimizer.step()
    clock.lap("step")
    return float(loss.detach())


def classic_step(variant: Variant, batch, clock: Clock) -> float:
    """The earlier train loop: normalized float images and matched targets come from the workers."""
    images, gt_locations, labels = batch
    inputs = images.to(variant.device, non_blocking=True)
    clock.lap("normalize")  # only the copy: the workers normalized
    gt_locations = gt_locations.to(variant.device, non_blocking=True)
    labels = labels.to(variant.device, non_blocking=True)
    clock.lap("matching")  # only the copy: the workers matched
    confidence, locations = variant.model(inputs)
    clock.lap("forward")
    regression, classification = classic_multibox_loss(confidence, locations, labels, gt_locations)
    clock.lap("loss")
    return backward_and_step(variant, regression + classification, clock)


def our_step(variant: Variant, batch, clock: Clock) -> float:
    """train_ssd.py's own step, vision.training.step.train_step, which ends each phase with a lap."""
    result = train_step(variant.model, variant.net, variant.loss_fn, variant.optimizer, [batch], variant.precision,
                        lap=clock.lap)
    return result.loss


def torchvision_step(variant: Variant, batch, clock: Clock) -> float:
    """torchvision's detection API: float images in [0, 1] and pixel boxes; the model resizes,
    normalizes, matches and computes its loss inside forward."""
    device, precision = variant.device, variant.precision
    images = batch.images.to(device, non_blocking=True).float().div_(255)
    targets = torchvision_targets(batch.boxes.to(device), batch.labels.to(device))
    clock.lap("normalize")
    with precision.autocast(device):
        losses = variant.model(list(images), targets)
    clock.lap("forward")
    return backward_and_step(variant, sum(losses.values()), clock)


def torchvision_targets(boxes: Tensor, labels: Tensor) -> list[dict[str, Tensor]]:
    """Padded, normalized targets -> one dict per image with pixel boxes, padding left out."""
    return [{"boxes": image_boxes[real] * TORCHVISION_RESOLUTION, "labels": image_labels[real]}
            for image_boxes, image_labels, real in zip(boxes, labels, labels > 0)]


# ---- building the variants ----

def precision_options() -> list[tuple[str, bool, bool]]:
    """(name, amp, channels_last) of our variants. The --amp ones train in float32 on a device
    without a native reduced precision, as train_ssd.py --amp does: their time shows what --amp costs."""
    return [("ours", False, False), ("ours channels-last", False, True), ("ours amp", True, False),
            ("ours amp+channels-last", True, True)]


def trainable_copy(initial: nn.Module, device: torch.device, channels_last: bool):
    """A copy of the initial weights on the device, with train_ssd.py's default SGD."""
    model = copy.deepcopy(initial).to(device).train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM,
                                weight_decay=WEIGHT_DECAY)
    return model, optimizer


def loader_factory(dataset, collate_fn, args, device: torch.device) -> Callable[[int], DataLoader]:
    """Round -> loader. The same seed gives every variant the same images in the same order; a
    TransformedDataset also gets the round as its epoch, so "ours" variants get identical batches."""
    def make(round_index: int) -> DataLoader:
        if isinstance(dataset, TransformedDataset):
            dataset.set_epoch(round_index)
        return DataLoader(dataset, batch_size=args.batch_size, sampler=EndlessSampler(len(dataset),
                          args.seed + round_index), num_workers=args.workers, collate_fn=collate_fn,
                          drop_last=True, pin_memory=device.type == "cuda")
    return make


def ssd_variants(name: str, dataset: CocoDataset, args, device: torch.device) -> list[Variant]:
    config = NETS[name]
    torch.manual_seed(args.seed)
    initial = create_net(name, len(dataset.class_names), args.resolution)
    classic_data = ClassicCocoDataset(dataset,
                                      classic_augmentation(args.resolution, config.mean, config.std),
                                      MatchPrior(initial.priors, IOU_THRESHOLD))
    our_data = TransformedDataset(dataset, SSDTrainTransform(args.resolution, config.mean), args.seed)
    classic_loader = loader_factory(classic_data, default_collate, args, device)
    variants = [Variant("classic", classic_step, classic_loader, *trainable_copy(initial, device, False),
                        Precision(), device)]
    our_loader = loader_factory(our_data, collate_samples, args, device)
    loss_fn = MultiboxLoss(neg_pos_ratio=3, negatives_per_empty_image=NEGATIVES_PER_EMPTY_IMAGE)
    for label, amp, channels_last in precision_options():
        model, optimizer = trainable_copy(initial, device, channels_last)
        precision = choose_precision(device, amp, args.amp_dtype, channels_last)
        variants.append(Variant(label, our_step, our_loader, model, optimizer, precision, device,
                                net=model, loss_fn=loss_fn))
    return variants


def torchvision_variants(dataset: CocoDataset, args, device: torch.device) -> list[Variant]:
    torch.manual_seed(args.seed)
    initial = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None,
                                            num_classes=TORCHVISION_CLASSES)
    data = TransformedDataset(dataset, SSDTrainTransform(TORCHVISION_RESOLUTION, (127.5,) * 3), args.seed)
    loader = loader_factory(data, collate_samples, args, device)
    options = [("torchvision", False, False), ("torchvision amp+channels-last", True, True)]
    return [Variant(label, torchvision_step, loader, *trainable_copy(initial, device, channels_last),
                    choose_precision(device, amp, args.amp_dtype, channels_last), device)
            for label, amp, channels_last in options]


# ---- reports ----

def print_step_table(title: str, variants: list[Variant], batch_size: int) -> None:
    """Milliseconds per phase of each variant's fastest round; every round's total shows the noise."""
    baseline = variants[0].total_ms()
    print(f"\n{title}")
    header = "".join(f"{phase:>10}" for phase in PHASES)
    print(f"{'variant (ms per step)':<30}{header}{'total':>9}{'images/s':>9}{'speed-up':>9}"
          f"   every round's total ms")
    for variant in variants:
        best = variant.best_round()
        cells = "".join(f"{best[phase]:>10.0f}" if phase in best else f"{'-':>10}" for phase in PHASES)
        total = variant.total_ms()
        rounds = " ".join(f"{sum(phases.values()):.0f}" for phases in variant.rounds)
        print(f"{variant.name:<30}{cells}{total:>9.0f}{batch_size * 1000 / total:>9.1f}"
              f"{baseline / total:>8.2f}x   {rounds}")


def print_losses(variants: list[Variant]) -> None:
    """Loss per step: the "ours" variants share the weights at step 1 and every batch. The fp32
    channels-last run shows how far fp32 alone drifts when only the kernels change."""
    print("loss per step (the 'ours' variants: the same batches from the same initial weights)")
    for variant in variants:
        print(f"  {variant.name:<28}" + " ".join(f"{loss:7.3f}" for loss in variant.losses))
    ours = [variant for variant in variants if variant.step is our_step]
    reference = ours[0].losses
    for variant in ours[1:]:
        differences = [abs(a - b) / abs(b) for a, b in zip(variant.losses, reference)]
        print(f"  {variant.name} against {ours[0].name}: step 1 (same weights) {differences[0]:.2%}, "
              f"largest over all steps {max(differences):.2%}, last step {differences[-1]:.2%}")


# ---- matching + loss alone ----

def real_targets(dataset: CocoDataset, batch_size: int) -> list[tuple[Tensor, Tensor, list[int]]]:
    """coco128's boxes (normalized, difficult ones left out) in padded batches, with box counts."""
    images = []
    for index in range(len(dataset)):
        target = dataset.target(index)
        height, width = dataset.image_size(index)
        keep = ~target["difficult"]
        images.append((target["boxes"][keep] / torch.tensor([width, height, width, height]),
                       target["labels"][keep]))
    batches = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        counts = [len(labels) for _, labels in chunk]
        boxes = torch.zeros(len(chunk), max(counts), 4)
        labels = torch.full((len(chunk), max(counts)), -1, dtype=torch.int64)
        for row, (image_boxes, image_labels) in enumerate(chunk):
            boxes[row, :counts[row]], labels[row, :counts[row]] = image_boxes, image_labels
        batches.append((boxes, labels, counts))
    return batches


def per_image_targets(boxes: Tensor, labels: Tensor, counts: list[int], priors: Tensor):
    """The earlier tools' matching: one image at a time (assign_priors, then encode), stacked."""
    corner_priors = center_to_corner(priors)
    locations, classes = [], []
    for row, count in enumerate(counts):
        matched_boxes, matched_labels = assign_priors(boxes[row, :count], labels[row, :count],
                                                      corner_priors, IOU_THRESHOLD)
        locations.append(encode(matched_boxes, priors))
        classes.append(matched_labels)
    return torch.stack(classes), torch.stack(locations)


def time_ms(device: torch.device, work: Callable[[], Tensor]) -> tuple[float, float]:
    clock = Clock(device)
    value = float(work())
    clock.lap("work")
    return clock.phases["work"], value


def matching_benchmark(dataset: CocoDataset, args, device: torch.device) -> list[tuple]:
    """Rows (resolution, priors, ours ms, loop ms, largest relative loss difference)."""
    batches = [(boxes.to(device), labels.to(device), counts)
               for boxes, labels, counts in real_targets(dataset, args.batch_size)]
    num_classes = len(dataset.class_names)
    loss_fn = MultiboxLoss(neg_pos_ratio=3)
    rows = []
    for resolution in (300, 640):
        net = create_net("mb1-ssd", num_classes, resolution).to(device)
        generator = torch.Generator(device).manual_seed(args.seed)
        shape = (len(net.priors),)
        outputs = [(torch.randn(len(counts), *shape, num_classes, generator=generator, device=device),
                    torch.randn(len(counts), *shape, 4, generator=generator, device=device))
                   for _, _, counts in batches]

        def ours(index):
            boxes, labels, _ = batches[index]
            matched_labels, gt_locations = matched_targets(net, boxes, labels)
            return sum(loss_fn(*outputs[index], matched_labels, gt_locations))

        def loop(index):
            boxes, labels, counts = batches[index]
            matched_labels, gt_locations = per_image_targets(boxes, labels, counts, net.priors)
            return sum(classic_multibox_loss(*outputs[index], matched_labels, gt_locations))

        best = {"ours": math.inf, "loop": math.inf}
        values = {}
        for repeat in range(args.match_repeats + 1):  # the first is a warm-up
            for label, work in (("ours", ours), ("loop", loop)):
                results = [time_ms(device, lambda: work(i)) for i in range(len(batches))]
                values[label] = [value for _, value in results]
                if repeat:
                    best[label] = min(best[label], sum(ms for ms, _ in results) / len(batches))
        difference = max(abs(a - b) / abs(b) for a, b in zip(values["ours"], values["loop"]))
        rows.append((resolution, len(net.priors), best["ours"], best["loop"], difference))
    return rows


def print_matching(rows: list[tuple], dataset: CocoDataset, args, device: torch.device) -> None:
    counts = [int((~dataset.target(i)["difficult"]).sum()) for i in range(len(dataset))]
    print(f"\nmatching + loss alone, mb1-ssd priors, {len(counts)} coco128 images in batches of "
          f"{args.batch_size} ({min(counts)}-{max(counts)} boxes per image, {sum(counts) / len(counts):.1f} "
          f"on average), on {device}, best of {args.match_repeats}")
    print(f"{'resolution':>10}{'priors':>8}{'batched ms':>12}{'per-image loop ms':>19}{'speed-up':>10}"
          f"{'loss difference':>17}")
    for resolution, priors, ours, loop, difference in rows:
        print(f"{resolution:>10}{priors:>8}{ours:>12.1f}{loop:>19.1f}{loop / ours:>9.1f}x{difference:>17.1e}")
    print("(the loss difference: the earlier iou_of adds 1e-5 to the union, which moves a few priors "
          "across IoU 0.5)")


# ---- main ----

def parse_args():
    default_data = (os.environ.get("SSD_COCO128")
                    or Path(__file__).resolve().parents[2] / "shared" / "data" / "coco128")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(default_data), help="coco128 (COCO layout)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--nets", nargs="+", default=["mb1-ssd", "mb2-ssd-lite"], choices=list(NETS))
    parser.add_argument("--resolution", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=4, help="turns each variant takes")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps at the start of each round")
    parser.add_argument("--steps", type=int, default=1, help="timed steps per round")
    parser.add_argument("--workers", type=int, default=2,
                        help="data loader processes (train_ssd.py's default)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="torch threads of the main process (the workers use 1 each)")
    parser.add_argument("--amp-dtype", choices=["bfloat16", "float16"], default=None,
                        help="the AMP variants' dtype (default: as --amp picks it)")
    parser.add_argument("--match-repeats", type=int, default=5)
    parser.add_argument("--parts", nargs="+", default=["steps", "matching", "torchvision"],
                        choices=["steps", "matching", "torchvision"])
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    # Images without boxes are left out: the classic augmentation cannot crop them.
    dataset = CocoDataset(args.data, "train", include_negatives=False)
    print(f"device {device}: {describe_device(device)}")
    amp = choose_precision(device, True, args.amp_dtype).dtype or "float32 (no native reduced precision)"
    print(f"{len(dataset)} coco128 images, batch {args.batch_size}, "
          f"{torch.get_num_threads()} torch threads of {os.cpu_count()} CPUs, {args.workers} data workers, "
          f"AMP {amp}; {args.rounds} rounds of {args.warmup} warm-up + {args.steps} timed steps, "
          f"the fastest round of each variant")
    if "steps" in args.parts:
        for name in args.nets:
            variants = ssd_variants(name, dataset, args, device)
            run_in_turns(variants, args)
            print_step_table(f"{name}, {args.resolution}x{args.resolution}, batch {args.batch_size}"
                             f" (speed-up: classic ms / variant ms)", variants, args.batch_size)
            print_losses(variants)
    if "torchvision" in args.parts:
        variants = torchvision_variants(dataset, args, device)
        run_in_turns(variants, args)
        print_step_table(f"torchvision ssdlite320_mobilenet_v3_large ({TORCHVISION_CLASSES} classes), "
                         f"batch {args.batch_size}: matching and loss run inside its forward",
                         variants, args.batch_size)
    if "matching" in args.parts:
        print_matching(matching_benchmark(dataset, args, device), dataset, args, device)


if __name__ == "__main__":
    main()
