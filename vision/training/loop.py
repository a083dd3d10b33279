"""train_ssd.py's work: its options become the run's settings, and a Trainer sets up the data, the net, the
loss and the optimizer, restores a resumed run, and trains epochs of steps with validation and checkpoints.
Top to bottom as a step's data goes: dataset item -> transforms (workers, uint8) -> collate (padded targets)
-> the net -> train_step on the device (normalize, match, forward, loss, backward, for each of
--accumulate-grad-batches micro-batches; then the optimizer step) -> checkpoints."""
import argparse
import contextlib
import itertools
import logging
import math
import signal
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from vision.cli import resolve_device
from vision.errors import OptionError
from vision.datasets import loader_iterator
from vision.nn.multibox_loss import MultiboxLoss
from vision.ssd.ssd import SSD
from vision.training import best, distributed, options
from vision.training import checkpoint as ckpt
from vision.training import ema as weight_average
from vision.training.checkpoint import Progress
from vision.training.checkpoint_files import BEST, LAST
from vision.training.data import (build_datasets, release_free_memory, start_epoch, start_workers, train_loader,
                                  validation_loader)
from vision.training.distributed import Group
from vision.training.model import build_net, fit_and_report_priors
from vision.training.options import PRETRAINED_BASE_NET_LR
from vision.training.precision import Precision, choose_precision, describe_device
from vision.training.schedule import build_optimizer, parameter_groups, set_learning_rate
from vision.training.settings import TrainSettings
from vision.training.step import StepResult, batch_loss, smallest_batch, train_step
from vision.utils.fileio import atomic_write_json, atomic_write_text

log = logging.getLogger("train_ssd")
MAX_NONFINITE_IN_A_ROW = 20


def train(args: argparse.Namespace, given: set[str]) -> None:
    """train_ssd.py's run. Its options become settings once the checkpoint it resumes is read
    (vision/training/options.py); nothing below reads them."""
    device = resolve_device(args.device, args.use_cuda)  # a wrong --device fails before torchrun's group forms
    group, rank_device = distributed.start(device.type)
    try:
        with contextlib.ExitStack() as held:
            _setup_logging(args.log_level if group.is_main else "warning")
            resumed = ckpt.read_resume(args.resume, Path(args.model_dir))
            trainer = Trainer(options.settings(args, given, resumed), group, rank_device or device)
            resume = resumed.content if resumed else None
            trainer.set_up(resume, held)
            trainer.restore(resume)
            trainer.run()
    finally:
        distributed.stop()


class StopRequest:
    """Ctrl-C / SIGTERM ask the loop to stop after the current step, inside a `with` block; leaving it
    (also by an exception or sys.exit) puts back the handlers from before."""

    def __init__(self):
        self.signal = None
        self._previous = {}

    def __enter__(self):
        for kind in (signal.SIGINT, signal.SIGTERM):
            self._previous[kind] = signal.signal(kind, self._handle)
        return self

    def __exit__(self, *exception):
        for kind, handler in self._previous.items():
            signal.signal(kind, signal.SIG_DFL if handler is None else handler)  # None: set outside Python

    def _handle(self, kind, frame):
        self.signal = kind


class Trainer:
    """A training run: its settings and parts (set_up), how far it is (restore, then `progress`), and its
    epochs (run: run_epoch, validate, save)."""
    # Made by set_up, in this order.
    train_set: Dataset
    val_set: Dataset
    class_names: list[str]  # BACKGROUND first
    train_batches: DataLoader
    val_batches: DataLoader
    net: SSD  # the weights trained
    pretrained: bool  # whether they started from pretrained weights
    min_images: int  # the fewest images a batch may hold (vision/training/step.py smallest_batch)
    precision: Precision
    average: weight_average.WeightAverage | None  # with --ema
    model: nn.Module  # what runs the net: compiled, wrapped for DDP
    loss_fn: MultiboxLoss
    optimizer: torch.optim.Optimizer
    steps_per_epoch: int  # optimizer steps
    # Open while run() runs.
    stop: StopRequest
    writer: SummaryWriter | None  # rank 0's

    def __init__(self, settings: TrainSettings, group: Group, device: torch.device):
        self.settings, self.group, self.device = settings, group, device
        self.progress = Progress()
        self.val_loss: float | None = None  # the last validation's in this run

    # ---- set up ----

    def set_up(self, resume: dict | None, held: contextlib.ExitStack) -> None:
        """Data, model directory, net, loss and optimizer. `resume`: the content of the checkpoint resumed
        (vision/training/checkpoint.py Resumed), whose labels, priors and weights the run takes."""
        settings = self.settings
        torch.manual_seed(settings.seed)
        self.train_set, self.val_set, self.class_names = build_datasets(settings.data,
                                                                        resume["labels"] if resume else None)
        if self.group.is_main:
            self._open_model_dir(held)  # until train returns; before any file is written
        self.train_batches = train_loader(self.train_set, settings.data, self.group,
                                          pin_memory=self.device.type == "cuda")
        start_workers(self.train_batches)  # before the net exists (see start_workers)
        self.val_batches = validation_loader(self.val_set, settings.data, self.group)
        self._set_up_net(resume)
        self.loss_fn = MultiboxLoss(neg_pos_ratio=3, negatives_per_empty_image=settings.negatives_per_empty_image)
        self.optimizer = self._build_optimizer()
        steps = max(len(self.train_batches) // settings.accumulate, 1)
        self.steps_per_epoch = min(steps, settings.max_steps_per_epoch or steps)

    def _open_model_dir(self, held: contextlib.ExitStack) -> None:
        """Rank 0 holds the model directory's lock, logs to its train.log, and writes labels.txt and args.json."""
        model_dir = self.settings.model_dir
        model_dir.mkdir(parents=True, exist_ok=True)
        held.enter_context(ckpt.model_dir_lock(model_dir))
        logging.getLogger().addHandler(_file_handler(model_dir / "train.log"))
        atomic_write_text(model_dir / "labels.txt", "\n".join(self.class_names) + "\n")
        atomic_write_json(model_dir / "args.json", self.settings.options, indent=2, default=str)

    def _set_up_net(self, resume: dict | None) -> None:
        """The net with its priors on the device, in the run's precision and layout, and its weight average."""
        settings = self.settings
        net, self.pretrained = build_net(settings.net, len(self.class_names), resume)
        fit_and_report_priors(net, settings.net, self.train_set, resume, self.class_names)
        net.to(self.device)
        if settings.sync_bn:
            distributed.use_sync_bn(net, self.device)
        self.min_images = smallest_batch(net, settings.net.resolution)
        self._check_batch_size()
        self.precision = choose_precision(self.device, settings.amp, settings.amp_dtype, settings.channels_last)
        if self.precision.channels_last:
            net.to(memory_format=torch.channels_last)
        self.average = weight_average.start(net, settings.ema_decay, resume)  # a copy of the net as now laid out
        self.model = distributed.wrap(torch.compile(net) if settings.compile else net, self.group, self.device)
        self.net = net

    def _check_batch_size(self) -> None:
        """Refuse settings that could only give batches too small for the net (a shrunk batch is skipped)."""
        if self.min_images < 2:
            return
        settings, world = self.settings, self.group.world
        why = (f"{settings.net.name} at --resolution {settings.net.resolution} has batch norms on 1x1 feature "
               f"maps, which need 2 images or more per batch")
        if settings.data.batch_size < 2:
            raise OptionError(f"--batch-size {settings.data.batch_size}: {why}; use --batch-size 2 or more")
        if len(self.train_set) // world < 2:
            raise OptionError(f"{len(self.train_set)} training image(s) for {world} process(es): {why}; add "
                              f"training images")

    def _build_optimizer(self) -> torch.optim.Optimizer:
        """The earlier tools' parameter groups; the base net's rate is lower when it starts pretrained."""
        chosen = self.settings.optimizer
        base_net_lr = chosen.base_net_lr or (PRETRAINED_BASE_NET_LR if self.pretrained else chosen.lr)
        groups = parameter_groups(self.net, chosen.lr, base_net_lr, chosen.extra_layers_lr or chosen.lr,
                                  chosen.freeze_base_net, chosen.freeze_net)
        return build_optimizer(chosen.name, groups, chosen.lr, chosen.momentum, chosen.weight_decay)

    # ---- restore ----

    def restore(self, resume: dict | None) -> None:
        """Continue a resumed training checkpoint (optimizer, grad scaler, random state, progress), and
        follow the best checkpoint's metric from where it was, when it is the same."""
        continued = resume is not None and "optimizer" in resume  # not a file of weights alone
        if continued:
            ckpt.restore(resume, self.optimizer, self.precision.scaler, self.settings.optimizer.given)
        metric = best.metric_name(self.settings.validation_mean_ap)
        tracking, follows = best.start(metric, resume if continued else None)
        self.progress = Progress.resumed(resume, tracking) if continued else Progress(**tracking)
        for line in filter(None, (self.settings.recipe, follows)):
            log.info("%s", line)

    # ---- run ----

    def run(self) -> None:
        """The epochs from the progress's on: train, validate, save; a stop request saves and exits."""
        self._log_plan()
        with StopRequest() as self.stop, _tensorboard(self.settings.model_dir, self.group) as self.writer:
            for epoch in range(self.progress.epoch, self.settings.epochs):
                self._epoch(epoch)
        log.info("done: %d epochs; checkpoints in %s", self.settings.epochs, self.settings.model_dir)

    def _log_plan(self) -> None:
        settings, world = self.settings, self.group.world
        log.info("training %s on %d images (%d classes), validating on %d; %d steps per epoch", settings.net.name,
                 len(self.train_set), len(self.class_names) - 1, len(self.val_set), self.steps_per_epoch)
        log.info("device %s (%s): %s", self.device, describe_device(self.device), self.precision)
        effective_batch = settings.data.batch_size * settings.accumulate * world
        if settings.accumulate > 1:
            log.info("%d micro-batches of %d images make a step: effective batch size %d", settings.accumulate,
                     settings.data.batch_size, effective_batch)
        if self.group.active:
            log.info("%d processes: effective batch size %d, learning rate %g (not scaled)", world,
                     effective_batch, settings.optimizer.lr)

    def _epoch(self, epoch: int) -> None:
        """Train `epoch`, validate when it is due, save."""
        last = self.settings.epochs
        if not self.run_epoch(epoch):
            self.save()
            self._exit_stopped()
        self.progress.epoch, self.progress.samples_in_epoch = epoch + 1, 0
        if self.progress.skipped_steps and self.group.is_main:
            log.warning("steps skipped so far: %d (a batch with too few readable images or a loss that was not "
                        "finite, on some process)", self.progress.skipped_steps)
        if (epoch + 1) % self.settings.validation_epochs == 0 or epoch + 1 == last:
            self.validate(epoch)
        self.save()
        if epoch + 1 < last and self._stop_requested():  # it came during validation
            self._exit_stopped()

    def run_epoch(self, epoch: int) -> bool:
        """Train one epoch (from the progress's position in it); False when a stop was requested."""
        self.net.train()
        samples_per_step = self.settings.data.batch_size * self.settings.accumulate * self.group.world
        start_epoch(self.train_batches, epoch, self.progress.samples_in_epoch)
        left = max(self.steps_per_epoch - self.progress.samples_in_epoch // samples_per_step, 0)
        steps = itertools.islice(_micro_batches(self.train_batches, self.settings.accumulate), left)
        bar = tqdm(steps, total=left, desc=f"epoch {epoch}", leave=False, dynamic_ncols=True,
                   disable=not self.group.is_main)
        nonfinite_in_a_row = 0
        totals = [0.0, 0.0, 0]  # regression, classification, steps taken: the epoch's mean loss
        started = time.perf_counter()
        for done, batches in enumerate(bar, start=1):
            result = self._step(batches)
            nonfinite_in_a_row = 0 if result.finite else nonfinite_in_a_row + 1
            if nonfinite_in_a_row >= MAX_NONFINITE_IN_A_ROW:
                raise OptionError(f"the loss was not finite for {nonfinite_in_a_row} steps in a row: lower --lr, "
                                  f"check the data for broken boxes, or start from other weights")
            if result.taken:
                totals = [totals[0] + result.regression_loss, totals[1] + result.classification_loss, totals[2] + 1]
            self.progress.samples_in_epoch += samples_per_step
            if self.group.is_main and not result.empty:
                self._log_step(result, samples_per_step * done / (time.perf_counter() - started), bar)
            if self._stop_requested():  # between optimizer steps: no checkpoint holds half a step's gradients
                return False
        self._log_epoch_loss(epoch, totals)
        return True

    def _step(self, batches: list) -> StepResult:
        """One optimizer step at the schedule's learning rate; the weight average follows a step taken."""
        progress = self.progress
        set_learning_rate(self.optimizer, self.settings.schedule.factor(progress.global_step / self.steps_per_epoch))
        result = train_step(self.model, self.net, self.loss_fn, self.optimizer, batches, self.precision, self.group,
                            self.min_images)
        progress.skipped_steps += not result.taken
        if result.taken and self.average:
            self.average.update(self.net)  # the same on every rank: their weights are the same
        # A skipped step counts too: a resumed run continues after its batch, the schedule does not lag.
        progress.global_step += 1
        return result

    def _stop_requested(self) -> bool:
        """Whether any rank got a stop signal: all ranks must stop after the same step."""
        asked = float(self.stop.signal is not None)
        return distributed.sum_across([asked], self.group, self.device)[0] > 0

    def _exit_stopped(self) -> None:
        """After a stop request and the save: the command that continues, and the signal's exit status."""
        signal_number = int(self.stop.signal or signal.SIGTERM)  # None: another rank got it
        if self.group.is_main:
            print(f"stopped by signal {signal_number}; resume with: python3 train_ssd.py --resume "
                  f"{self.settings.model_dir / LAST}", file=sys.stderr)
        sys.exit(128 + signal_number)

    def _log_step(self, result: StepResult, rate: float, bar) -> None:
        lr = self.optimizer.param_groups[-1]["lr"]
        bar.set_postfix(loss=f"{result.loss:.3f}", lr=f"{lr:.2g}", img_s=f"{rate:.1f}")
        step = self.progress.global_step
        if step % self.settings.debug_steps == 0:
            self.writer.add_scalar("train/regression_loss", result.regression_loss, step)
            self.writer.add_scalar("train/classification_loss", result.classification_loss, step)
            self.writer.add_scalar("train/lr", lr, step)
            self.writer.add_scalar("train/images_per_second", rate, step)
            log.debug("step %d: loss %.4f (regression %.4f, classification %.4f), lr %.3g", step, result.loss,
                      result.regression_loss, result.classification_loss, lr)

    def _log_epoch_loss(self, epoch: int, totals: list) -> None:
        """The epoch's mean training loss over all ranks' steps (each rank's loss is on its share of a batch)."""
        regression, classification, steps = distributed.sum_across(totals, self.group, self.device)
        if not self.group.is_main or not steps:
            return
        regression, classification = regression / steps, classification / steps
        self.writer.add_scalar("train/epoch_loss", regression + classification, self.progress.global_step)
        log.info("epoch %d: training loss %.4f (regression %.4f, classification %.4f)", epoch,
                 regression + classification, regression, classification)

    # ---- validate ----

    def _weights(self) -> nn.Module:
        """The net the run validates and saves as its model: the average with --ema, else the one trained."""
        return self.average.module if self.average else self.net

    def validate(self, epoch: int) -> None:
        """The validation loss after `epoch` (a diverged run ends here), checkpoint-best.pth when the best
        metric improved, and the epoch's file."""
        release_free_memory()  # before the validation workers fork
        val_loss = validation_loss(self._weights(), self.loss_fn, self.val_batches, self.precision, self.group)
        self.val_loss = val_loss
        if not math.isfinite(val_loss):  # the weights may be finite (up to 1e21, say) and their outputs not
            self._exit_diverged(f"the validation loss after epoch {epoch} is {val_loss}")
        self._exit_if_weights_not_finite(f"after epoch {epoch}")
        if self.group.is_main:
            self.writer.add_scalar("validation/loss", val_loss, self.progress.global_step)
            log.info("epoch %d: validation loss %.4f", epoch, val_loss)
        self._save_if_best(epoch, self._validation_ap50() if self.progress.best_metric_name == best.AP50 else val_loss)
        if self.group.is_main:
            ckpt.save_epoch_file(self.settings.model_dir, self._weights(), self.settings.net, self.class_names, epoch,
                                 round(val_loss, 4), self.settings.keep_checkpoints)

    def _save_if_best(self, epoch: int, value: float) -> None:
        """Keep `value` of the followed metric as the best when it improves, and save checkpoint-best.pth."""
        metric = self.progress.best_metric_name
        if not best.improves(metric, value, self.progress.best_metric):
            return
        self.progress.best_metric = value  # on every rank: their progress stays the same
        if self.group.is_main:
            ckpt.atomic_save(self._checkpoint(), self.settings.model_dir / BEST)
            log.info("new best validation %s %.4f (epoch %d): %s", metric, value, epoch, BEST)

    def _validation_ap50(self) -> float:
        """The validation COCO AP50, which rank 0 computes alone (and logs), on every rank."""
        ap50 = self._log_mean_ap() if self.group.is_main else 0.0
        return distributed.sum_across([ap50], self.group, self.device)[0]

    def _log_mean_ap(self) -> float:
        """COCO AP / AP50 and VOC mAP of the net on the validation set, logged; returns the AP50."""
        from vision.evaluation import evaluate_model  # here: it loads matplotlib (23 MB), which most runs never use

        data = self.settings.data
        metrics = evaluate_model(self._weights(), self.val_set, data.batch_size, workers=data.workers)
        coco, voc = metrics["coco"], metrics["voc"]
        log.info("validation COCO AP %.4f, AP50 %.4f; VOC mAP %.4f", coco["AP"], coco["AP50"], voc["mAP"])
        for name, value in [("coco_AP", coco["AP"]), ("coco_AP50", coco["AP50"]), ("voc_mAP", voc["mAP"])]:
            self.writer.add_scalar(f"validation/{name}", value, self.progress.global_step)
        return coco["AP50"]

    def _exit_if_weights_not_finite(self, when: str) -> None:
        """A run whose weights hold NaN or infinity (a BatchNorm running_var can overflow while the loss looks
        fine) has diverged; the ranks agree, so that all of them exit."""
        bad = ckpt.non_finite_keys(self.net.state_dict())
        if not distributed.every_rank(not bad, self.group, self.device):
            first = bad[0] if bad else "on another process"
            self._exit_diverged(f"the weights are not finite {when} ({len(bad)} tensors, first {first})")

    def _exit_diverged(self, why: str) -> None:
        """End a diverged run with an error (exit status 1) before any checkpoint of its weights is written:
        those written before stay, and onnx_export.py --model-dir keeps exporting the best of them."""
        if self.group.is_main:
            settings, last = self.settings, self.settings.model_dir / LAST
            retry = f"resume {last} with a lower --lr" if last.is_file() else "start again with a lower --lr"
            log.error("training diverged: %s; no checkpoint of these weights was written. Lower --lr (now %g), "
                      "give a longer --warmup-epochs%s: %s", why, settings.optimizer.lr,
                      ", train without --amp" if settings.amp else "", retry)
        sys.exit(1)

    # ---- save ----

    def save(self) -> None:
        """checkpoint-last.pth, of weights finite on every rank."""
        self._exit_if_weights_not_finite("at the end of the epoch")
        if self.group.is_main:
            ckpt.atomic_save(self._checkpoint(), self.settings.model_dir / LAST)

    def _checkpoint(self) -> dict:
        average = self.average
        return ckpt.training_checkpoint(
            self._weights(), self.settings.net, self.class_names, self.optimizer, self.precision.scaler,
            self.progress, self.val_loss, self.settings.options, self.pretrained, trained=self.net if average else None,
            ema_updates=average.updates if average else 0)


def _micro_batches(loader: DataLoader, accumulate: int):
    """The loader's batches in lists of `accumulate`, the micro-batches of one optimizer step each (fewer
    when the loader holds fewer)."""
    batches = iter(loader)
    while step := list(itertools.islice(batches, accumulate)):
        yield step


@torch.no_grad()
def validation_loss(net, loss_fn, loader: DataLoader, precision: Precision = Precision(),
                    group: Group = Group()) -> float:
    """Mean batch loss over a validation_loader, gathered across ranks."""
    net.eval()
    total, batches = 0.0, 0
    for batch in tqdm(loader_iterator(loader), total=len(loader), desc="validation", leave=False,
                      dynamic_ncols=True, disable=not group.is_main):
        if len(batch.images) == 0:
            continue
        regression, classification = batch_loss(net, net, loss_fn, batch.images, batch.boxes, batch.labels,
                                                precision)
        total += float(regression + classification)
        batches += 1
    net.train()
    total, batches = distributed.sum_across([total, batches], group, net.priors.device)
    return total / max(batches, 1)


def _tensorboard(model_dir: Path, group: Group):
    """Rank 0's TensorBoard writer, to use in a `with` block (closing it writes what it holds); None on
    the other ranks."""
    return SummaryWriter(str(model_dir / "tensorboard")) if group.is_main else contextlib.nullcontext()


LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, force=True)


def _file_handler(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    return handler
