"""train_ssd.py's work, top to bottom: data, net, optimizer, then epochs of steps, validation and
checkpoints. The data path of a step: dataset item -> transforms (workers, uint8) -> collate (padded
targets) -> train_step on the device (normalize, match, forward, loss, backward, for each of
--accumulate-grad-batches micro-batches; then the optimizer step)."""
import argparse
import contextlib
import itertools
import logging
import math
import random
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from vision.cli import resolve_device
from vision.errors import OptionError
from vision.datasets import loader_iterator
from vision.nn.multibox_loss import MultiboxLoss
from vision.ssd import saved_priors
from vision.ssd.weights import read_checkpoint
from vision.utils.fileio import atomic_write_json, atomic_write_text
from vision.training import best
from vision.training import checkpoint as ckpt
from vision.training import distributed, recipes
from vision.training import ema as weight_average
from vision.training.distributed import Group
from vision.training.data import (build_datasets, release_free_memory, start_epoch, start_workers, train_loader,
                                  validation_loader)
from vision.training.model import build_net, fit_and_report_priors
from vision.training.options import PRETRAINED_BASE_NET_LR
from vision.training.schedule import build_optimizer, lr_factor, parameter_groups, set_learning_rate
from vision.training.precision import Precision, choose_precision, describe_device
from vision.training.step import batch_loss, smallest_batch, train_step

log = logging.getLogger("train_ssd")
MAX_NONFINITE_IN_A_ROW = 20


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


def train(args: argparse.Namespace, given: set[str]) -> None:
    device = resolve_device(args.device, args.use_cuda)  # a wrong --device fails before torchrun's group forms
    group, rank_device = distributed.start(device.type)
    try:
        with contextlib.ExitStack() as held:
            _train(args, given, group, rank_device or device, held)
    finally:
        distributed.stop()


def _train(args: argparse.Namespace, given: set[str], group: Group, device: torch.device,
           held: contextlib.ExitStack) -> None:
    _setup_logging(args.log_level if group.is_main else "warning")
    resume = _resume_state(args, given, Path(args.model_dir))
    recipe = recipes.apply(args, given, resume)  # logged below, once train.log is open
    if args.datasets is None:  # --resume stood in for --datasets, but found no run of ours to take them from
        raise OptionError(f"--resume {args.resume}: no training checkpoint to take the data from; give it with "
                          f"--datasets PATH")
    model_dir = Path(args.model_dir)  # a resumed run's, unless given
    torch.manual_seed(args.seed)
    train_set, val_set, class_names = build_datasets(args, resume["labels"] if resume else None)
    if group.is_main:
        model_dir.mkdir(parents=True, exist_ok=True)
        held.enter_context(ckpt.model_dir_lock(model_dir))  # until train returns; before any file is written
        logging.getLogger().addHandler(_file_handler(model_dir / "train.log"))
        atomic_write_text(model_dir / "labels.txt", "\n".join(class_names) + "\n")
        atomic_write_json(model_dir / "args.json", vars(args), indent=2, default=str)
    train_batches = train_loader(train_set, args, group, pin_memory=device.type == "cuda")
    start_workers(train_batches)  # before the net exists (see start_workers)
    net, pretrained = build_net(args, len(class_names), resume)
    fit_and_report_priors(net, args, train_set, resume, class_names)
    net.to(device)
    if args.sync_bn:
        distributed.use_sync_bn(net, device)
    min_images = smallest_batch(net, args.resolution)
    _check_batch_size(args, min_images, len(train_set), group)
    precision = choose_precision(device, args.amp, args.amp_dtype, args.channels_last)
    if precision.channels_last:
        net.to(memory_format=torch.channels_last)
    average = weight_average.start(args, net, resume)  # a copy of the net as it is now laid out
    model = distributed.wrap(torch.compile(net) if args.compile else net, group, device)
    base_net_lr = args.base_net_lr or (PRETRAINED_BASE_NET_LR if pretrained else args.lr)
    groups = parameter_groups(net, args.lr, base_net_lr, args.extra_layers_lr or args.lr,
                              args.freeze_base_net, args.freeze_net)
    optimizer = build_optimizer(args.optimizer, groups, args.lr, args.momentum, args.weight_decay)
    loss_fn = MultiboxLoss(neg_pos_ratio=3, negatives_per_empty_image=args.negatives_per_empty_image)
    state = {"epoch": 0, "samples_in_epoch": 0, "global_step": 0, "skipped_steps": 0}
    resumed = resume and "optimizer" in resume
    if resumed:
        fresh = [dict(group) for group in optimizer.param_groups]
        optimizer.load_state_dict(resume["optimizer"])
        _override_hyperparameters(optimizer, fresh, given)
        if precision.scaler is not None and resume.get("scaler"):
            precision.scaler.load_state_dict(resume["scaler"])
        state.update({key: resume[key] for key in state})
        _set_rng_state(resume["rng"])
    tracking, follows = best.start(best.metric_name(args.validation_mean_ap), resume if resumed else None)
    state.update(tracking)
    for line in filter(None, (recipe, follows)):
        log.info("%s", line)

    val_batches = validation_loader(val_set, args, group)
    accumulate = args.accumulate_grad_batches
    steps_per_epoch = max(len(train_batches) // accumulate, 1)  # optimizer steps
    steps_per_epoch = min(steps_per_epoch, args.max_steps_per_epoch or steps_per_epoch)
    log.info("training %s on %d images (%d classes), validating on %d; %d steps per epoch",
             args.net, len(train_set), len(class_names) - 1, len(val_set), steps_per_epoch)
    log.info("device %s (%s): %s", device, describe_device(device), precision)
    effective_batch = args.batch_size * accumulate * group.world
    if accumulate > 1:
        log.info("%d micro-batches of %d images make a step: effective batch size %d", accumulate,
                 args.batch_size, effective_batch)
    if group.active:
        log.info("%d processes: effective batch size %d, learning rate %g (not scaled)", group.world,
                 effective_batch, args.lr)
    with StopRequest() as stop, _tensorboard(model_dir, group) as writer:
        context = dict(args=args, net=net, model=model, precision=precision, optimizer=optimizer,
                       loss_fn=loss_fn, writer=writer, class_names=class_names, model_dir=model_dir,
                       stop=stop, steps_per_epoch=steps_per_epoch, group=group, device=device,
                       pretrained=pretrained, min_images=min_images, average=average)
        _train_epochs(context, train_batches, val_batches, val_set, state)
    log.info("done: %d epochs; checkpoints in %s", args.epochs, model_dir)


def _check_batch_size(args: argparse.Namespace, min_images: int, train_size: int, group: Group) -> None:
    """Refuse settings that could only give batches too small for the net (a shrunk batch is skipped)."""
    if min_images < 2:
        return
    why = (f"{args.net} at --resolution {args.resolution} has batch norms on 1x1 feature maps, which need "
           f"2 images or more per batch")
    if args.batch_size < 2:
        raise OptionError(f"--batch-size {args.batch_size}: {why}; use --batch-size 2 or more")
    if train_size // group.world < 2:
        raise OptionError(f"{train_size} training image(s) for {group.world} process(es): {why}; add training "
                          f"images")


def _tensorboard(model_dir: Path, group: Group):
    """Rank 0's TensorBoard writer, to use in a `with` block (closing it writes what it holds); None on
    the other ranks."""
    return SummaryWriter(str(model_dir / "tensorboard")) if group.is_main else contextlib.nullcontext()


def _train_epochs(context: dict, train_batches: DataLoader, val_batches: DataLoader, val_set,
                  state: dict) -> None:
    """The epochs from state's on: train, validate, save; a stop request saves and exits."""
    args, group = context["args"], context["group"]
    for epoch in range(state["epoch"], args.epochs):
        finished = _train_epoch(context, train_batches, epoch, state)
        if not finished:
            _save(context, state)
            _exit_stopped(context)
        state.update(epoch=epoch + 1, samples_in_epoch=0)
        if state["skipped_steps"] and group.is_main:
            log.warning("steps skipped so far: %d (a batch with too few readable images or a loss that was "
                        "not finite, on some process)", state["skipped_steps"])
        if (epoch + 1) % args.validation_epochs == 0 or epoch + 1 == args.epochs:
            _validate_and_save(context, val_batches, val_set, epoch, state)
        _save(context, state)
        if epoch + 1 < args.epochs and _stop_requested(context):  # it came during validation
            _exit_stopped(context)


def _exit_stopped(context: dict) -> None:
    """After a stop request and the save: the command that continues, and the signal's exit status."""
    signal_number = int(context["stop"].signal or signal.SIGTERM)  # None: another rank got it
    if context["group"].is_main:
        path = context["model_dir"] / ckpt.LAST
        print(f"stopped by signal {signal_number}; resume with: python3 train_ssd.py --resume {path}",
              file=sys.stderr)
    sys.exit(128 + signal_number)


def _train_epoch(context: dict, loader: DataLoader, epoch: int, state: dict) -> bool:
    """Train one epoch (from state's samples_in_epoch on); False when a stop was requested."""
    args, net, group = context["args"], context["net"], context["group"]
    net.train()
    accumulate = args.accumulate_grad_batches
    samples_per_step = args.batch_size * accumulate * group.world
    done = state["samples_in_epoch"] // samples_per_step
    start_epoch(loader, epoch, state["samples_in_epoch"])
    left = max(context["steps_per_epoch"] - done, 0)
    bar = tqdm(itertools.islice(_micro_batches(loader, accumulate), left), total=left, desc=f"epoch {epoch}",
               leave=False, dynamic_ncols=True, disable=not group.is_main)
    nonfinite_in_a_row = 0
    totals = [0.0, 0.0, 0]  # regression, classification, finite steps: the epoch's mean loss
    started = time.perf_counter()
    for steps, batches in enumerate(bar, start=1):
        factor = lr_factor(state["global_step"] / context["steps_per_epoch"], args.scheduler,
                           args.t_max or args.epochs, args.milestones, args.gamma, args.warmup_epochs)
        set_learning_rate(context["optimizer"], factor)
        result = train_step(context["model"], net, context["loss_fn"], context["optimizer"], batches,
                            context["precision"], group, context["min_images"])
        nonfinite_in_a_row = 0 if result.finite else nonfinite_in_a_row + 1
        state["skipped_steps"] += not result.taken
        if result.taken:
            if context["average"]:
                context["average"].update(net)  # the same on every rank: their weights are the same
            totals[0] += result.regression_loss
            totals[1] += result.classification_loss
            totals[2] += 1
        if nonfinite_in_a_row >= MAX_NONFINITE_IN_A_ROW:
            raise OptionError(f"the loss was not finite for {nonfinite_in_a_row} steps in a row: lower --lr, "
                              f"check the data for broken boxes, or start from other weights")
        # A skipped step counts too: a resumed run continues after its batch, the schedule does not lag.
        state["global_step"] += 1
        state["samples_in_epoch"] += samples_per_step
        rate = samples_per_step * steps / (time.perf_counter() - started)
        if group.is_main and not result.empty:
            _log_step(context, state, result, rate, bar)
        if _stop_requested(context):  # between optimizer steps: no checkpoint holds half a step's gradients
            return False
    _log_epoch_loss(context, epoch, totals, state["global_step"])
    return True


def _micro_batches(loader: DataLoader, accumulate: int):
    """The loader's batches in lists of `accumulate`, the micro-batches of one optimizer step each (fewer
    when the loader holds fewer)."""
    batches = iter(loader)
    while step := list(itertools.islice(batches, accumulate)):
        yield step


def _log_epoch_loss(context: dict, epoch: int, totals: list, step: int) -> None:
    """The epoch's mean training loss over all ranks' steps (each rank's loss is on its share of a batch)."""
    regression, classification, steps = distributed.sum_across(totals, context["group"], context["device"])
    if not context["group"].is_main or not steps:
        return
    regression, classification = regression / steps, classification / steps
    context["writer"].add_scalar("train/epoch_loss", regression + classification, step)
    log.info("epoch %d: training loss %.4f (regression %.4f, classification %.4f)", epoch,
             regression + classification, regression, classification)


def _stop_requested(context: dict) -> bool:
    """Whether any rank got a stop signal: all ranks must stop after the same step."""
    asked = float(context["stop"].signal is not None)
    return distributed.sum_across([asked], context["group"], context["device"])[0] > 0


def _log_step(context, state, result, rate, bar) -> None:
    lr = context["optimizer"].param_groups[-1]["lr"]
    bar.set_postfix(loss=f"{result.loss:.3f}", lr=f"{lr:.2g}", img_s=f"{rate:.1f}")
    step = state["global_step"]
    if step % context["args"].debug_steps == 0:
        writer = context["writer"]
        writer.add_scalar("train/regression_loss", result.regression_loss, step)
        writer.add_scalar("train/classification_loss", result.classification_loss, step)
        writer.add_scalar("train/lr", lr, step)
        writer.add_scalar("train/images_per_second", rate, step)
        log.debug("step %d: loss %.4f (regression %.4f, classification %.4f), lr %.3g", step, result.loss,
                  result.regression_loss, result.classification_loss, lr)


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


def _weights(context: dict):
    """The net the run validates and saves as its model: the average with --ema, else the one trained."""
    return context["average"].module if context["average"] else context["net"]


def _validate_and_save(context: dict, loader: DataLoader, val_set, epoch: int, state: dict) -> None:
    args, net, group = context["args"], _weights(context), context["group"]
    release_free_memory()  # before the validation workers fork
    val_loss = validation_loss(net, context["loss_fn"], loader, context["precision"], group)
    state["val_loss"] = val_loss
    if not math.isfinite(val_loss):  # the weights may be finite (up to 1e21, say) and their outputs not
        _exit_diverged(context, f"the validation loss after epoch {epoch} is {val_loss}")
    _exit_if_weights_not_finite(context, f"after epoch {epoch}")
    if group.is_main:
        context["writer"].add_scalar("validation/loss", val_loss, state["global_step"])
        log.info("epoch %d: validation loss %.4f", epoch, val_loss)
    metric = state["best_metric_name"]
    value = _validation_ap50(context, val_set, state["global_step"]) if metric == best.AP50 else val_loss
    new_best = best.improves(metric, value, state["best_metric"])
    if new_best:  # on every rank: their states stay the same
        state["best_metric"] = value
    if not group.is_main:
        return
    if new_best:
        ckpt.atomic_save(_checkpoint(context, state), context["model_dir"] / ckpt.BEST)
        log.info("new best validation %s %.4f (epoch %d): %s", metric, value, epoch, ckpt.BEST)
    name = ckpt.epoch_file_name(args.net, epoch, round(val_loss, 4))
    ckpt.atomic_save(ckpt.epoch_file_content(net, args, context["class_names"]), context["model_dir"] / name)
    ckpt.prune_epoch_files(context["model_dir"], args.keep_checkpoints)


def _validation_ap50(context: dict, val_set, step: int) -> float:
    """The validation COCO AP50, which rank 0 computes alone (and logs), on every rank."""
    ap50 = _log_mean_ap(context, val_set, step) if context["group"].is_main else 0.0
    return distributed.sum_across([ap50], context["group"], context["device"])[0]


def _log_mean_ap(context: dict, val_set, step: int) -> float:
    """COCO AP / AP50 and VOC mAP of the net on the validation set, logged; returns the AP50."""
    from vision.evaluation import evaluate_model  # here: it loads matplotlib (23 MB), which most runs never use

    args = context["args"]
    metrics = evaluate_model(_weights(context), val_set, args.batch_size, workers=args.workers)
    coco, voc = metrics["coco"], metrics["voc"]
    log.info("validation COCO AP %.4f, AP50 %.4f; VOC mAP %.4f", coco["AP"], coco["AP50"], voc["mAP"])
    for name, value in [("coco_AP", coco["AP"]), ("coco_AP50", coco["AP50"]), ("voc_mAP", voc["mAP"])]:
        context["writer"].add_scalar(f"validation/{name}", value, step)
    return coco["AP50"]


def _save(context: dict, state: dict) -> None:
    _exit_if_weights_not_finite(context, "at the end of the epoch")
    if context["group"].is_main:
        ckpt.atomic_save(_checkpoint(context, state), context["model_dir"] / ckpt.LAST)


def _exit_if_weights_not_finite(context: dict, when: str) -> None:
    """A run whose weights hold NaN or infinity (a BatchNorm running_var can overflow while the loss looks
    fine) has diverged; the ranks agree, so that all of them exit."""
    bad = ckpt.non_finite_keys(context["net"].state_dict())
    if not distributed.every_rank(not bad, context["group"], context["device"]):
        first = bad[0] if bad else "on another process"
        _exit_diverged(context, f"the weights are not finite {when} ({len(bad)} tensors, first {first})")


def _exit_diverged(context: dict, why: str) -> None:
    """End a diverged run with an error (exit status 1) before any checkpoint of its weights is written:
    those written before stay, and onnx_export.py --model-dir keeps exporting the best of them."""
    if context["group"].is_main:
        args, last = context["args"], context["model_dir"] / ckpt.LAST
        retry = f"resume {last} with a lower --lr" if last.is_file() else "start again with a lower --lr"
        log.error("training diverged: %s; no checkpoint of these weights was written. Lower --lr (now %g), "
                  "give a longer --warmup-epochs%s: %s", why, args.lr, ", train without --amp" if args.amp else "",
                  retry)
    sys.exit(1)


def _checkpoint(context: dict, state: dict) -> dict:
    args, net, average = context["args"], _weights(context), context["average"]
    trained = {"raw_model": context["net"].state_dict(), "ema_updates": average.updates} if average else {}
    return {
        "format_version": ckpt.FORMAT_VERSION,
        "model": net.state_dict(), **trained,
        "net": args.net, "num_classes": net.num_classes, "labels": context["class_names"],
        "resolution": args.resolution, "width_mult": args.mb2_width_mult,
        "prior_specs": saved_priors(net),
        "optimizer": context["optimizer"].state_dict(),
        "scaler": scaler.state_dict() if (scaler := context["precision"].scaler) else None,
        "rng": _rng_state(), "args": vars(args), "pretrained": context["pretrained"],
        **state,
    }


_OPTIMIZER_OPTIONS = {"lr": "base_lr", "base_net_lr": "base_lr", "extra_layers_lr": "base_lr",
                      "momentum": "momentum", "weight_decay": "weight_decay"}


def _override_hyperparameters(optimizer, fresh: list[dict], given: set[str]) -> None:
    """Resuming restores the optimizer's settings; those given on the command line win."""
    keys = {_OPTIMIZER_OPTIONS[name] for name in given if name in _OPTIMIZER_OPTIONS}
    for group, new in zip(optimizer.param_groups, fresh):
        for key in keys & new.keys():
            group[key] = new[key]


# Options that change the net's parameters or priors: a checkpoint cannot be resumed under others.
STRUCTURE = {"net", "mb2_width_mult", "fit_priors"}


def _resume_state(args: argparse.Namespace, given: set[str], model_dir: Path) -> dict | None:
    """The checkpoint to resume from (None for a fresh start); merges its arguments into `args`."""
    if args.resume is None:
        return None
    path = ckpt.newest_checkpoint(model_dir) if args.resume == "auto" else Path(args.resume)
    if path is None:
        log.info("--resume auto: no checkpoint in %s, starting fresh", model_dir)
        return None
    content = read_checkpoint(str(path))
    source = _source(path, content, args.resume == "auto")
    if "args" not in content:  # a plain state_dict, or an epoch file of a run with fitted priors
        log.warning("%s holds weights only: loading them and starting at epoch 0", source)
        return {"plain": str(path), "labels": None, "prior_specs": content.get("prior_specs")}
    overrides = sorted(name for name in given if name not in ("resume",) and
                       content["args"].get(name) != getattr(args, name))
    for name in sorted(STRUCTURE.intersection(overrides)):
        flag = "--" + name.replace("_", "-")
        raise OptionError(f"{path}: saved with {flag} {content['args'].get(name)}, not {getattr(args, name)}; "
                          f"{flag} cannot change on resume (to fine-tune it as another net, start a new "
                          f"run with --pretrained-ssd)")
    for name, value in content["args"].items():
        if name not in given and name != "resume":
            setattr(args, name, value)
    if overrides:
        log.info("resuming %s with overrides: %s", source,
                 ", ".join(f"--{name.replace('_', '-')}={getattr(args, name)}" for name in overrides))
    else:
        log.info("resuming %s at epoch %d, %d images into it", source, content["epoch"],
                 content["samples_in_epoch"])
    return content


def _source(path: Path, content: dict, auto: bool) -> str:
    """The checkpoint's path for the log; with --resume auto, also why that file was taken."""
    if not auto:
        return str(path)
    if "args" in content:
        return f"{path} (--resume auto: the checkpoint furthest in training)"
    return f"{path} (--resume auto: no full checkpoint, so the newest epoch file)"


def _rng_state() -> dict:
    # Tensors and plain numbers only, so the checkpoint loads with torch.load(weights_only=True).
    name, keys, position, has_gauss, gauss = np.random.get_state()
    version, python_state, _ = random.getstate()
    state = {"torch": torch.get_rng_state(),
             "numpy": [name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss],
             "python": [version, list(python_state)]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, position, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    version, python_state = state["python"]
    random.setstate((version, tuple(python_state), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, force=True)


def _file_handler(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    return handler
