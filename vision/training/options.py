"""The train_ssd.py command line: the earlier tools' flags (underscore spellings too), checks, and the typed
settings they give the run (the only place that reads them)."""
import argparse
import logging
import os
from pathlib import Path

from vision.cli import OneLineParser, boolean
from vision.errors import OptionError
from vision.datasets.layout import DATASET_TYPES
from vision.ssd import NET_NAMES
from vision.ssd.nets import NETS
from vision.ssd.weights import TORCHVISION
from vision.training import recipes
from vision.training.checkpoint import Resumed
from vision.training.ema import WARMUP_UPDATES
from vision.training.schedule import GROUP_KEYS, Schedule
from vision.training.settings import DataSettings, NetSettings, OptimizerSettings, TrainSettings
from vision.transforms import AUGMENTATIONS

PRETRAINED_MB1_URL = "https://nvidia.box.com/shared/static/djf5w54rjvpqocsiztzaandq1m3avr7c.pth"
PRETRAINED_MB1_FILE = "mobilenet-v1-ssd-mp-0_675.pth"
PRETRAINED_BASE_NET_LR = 0.001
log = logging.getLogger("train_ssd")
BY_NET = "(default: %(default)s; from scratch, the net's recipe: see below)"


def _add(parser, *names, **kwargs):
    """Add an option under its names and, for hyphenated ones, the earlier underscore spelling."""
    spellings = list(names) + ["--" + name[2:].replace("-", "_") for name in names]
    parser.add_argument(*dict.fromkeys(spellings), **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="train_ssd.py", description="Train an SSD detector on COCO, VOC or Open Images data.",
        epilog=recipes.help_epilog(), formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    data = parser.add_argument_group("data")
    _add(data, "--dataset-type", choices=DATASET_TYPES, default=None,
         help="layout of the datasets; found from the files on disk when left out")
    _add(data, "--datasets", "--data", nargs="+", default=None, metavar="PATH", help="dataset roots")
    _add(data, "--validation-dataset", default=None, metavar="PATH",
         help="validation data; by default the validation split of each training root")
    _add(data, "--labels", default=None, metavar="FILE",
         help="class order: names one per line (a model's labels.txt, BACKGROUND first, works too)")
    _add(data, "--balance-data", action="store_true", help="resample Open Images data to even out classes")
    _add(data, "--data-augmentation", choices=list(AUGMENTATIONS), default="ssd",
         help="ssd: photometric distortion, zoom out, crop, flip (the earlier tools'); ssdlite: crop and "
              "flip; hflip: flip only; flips: horizontal and vertical flips, for images without up and down "
              "(microscopy, aerial views) " + BY_NET)
    _add(data, "--skip-empty-images", action="store_true", help="leave out images without boxes")

    model = parser.add_argument_group("model")
    _add(model, "--net", default="mb1-ssd", choices=NET_NAMES)
    _add(model, "--resolution", type=int, default=None,
         help="input size in pixels (square; default the net's: 320 for ssdlite320-mb3-large, else 300)")
    _add(model, "--fit-priors", action=argparse.BooleanOptionalAction, default=False,
         help="choose the prior sizes per feature map from the training boxes, to cover most of them "
              "(kept in the checkpoint; the heads do not change; not for torchvision's nets) " + BY_NET)
    _add(model, "--mb2-width-mult", type=float, default=1.0, help="width multiplier of mb2-ssd-lite")
    _add(model, "--pretrained-ssd", default=None, metavar="PATH",
         help=f"start from an SSD checkpoint (for mb1-ssd the default is models/{PRETRAINED_MB1_FILE}, "
              f"downloaded when missing); 'torchvision': torchvision's COCO weights (ssdlite320-mb3-large, "
              f"ssd300-vgg16)")
    _add(model, "--no-pretrained", action="store_true", help="start from scratch (no default weights)")
    _add(model, "--base-net", default=None, metavar="PATH", help="initialize the base net from this file")
    _add(model, "--weights-backbone", action="store_true",
         help="initialize the base net from torchvision's ImageNet weights (not mb1)")
    _add(model, "--freeze-base-net", action="store_true", help="train everything but the base net")
    _add(model, "--freeze-net", action="store_true", help="train the heads only")

    optim = parser.add_argument_group("optimization")
    _add(optim, "--batch-size", type=int, default=4, help=BY_NET)
    _add(optim, "--accumulate-grad-batches", type=int, default=1, metavar="N",
         help="one optimizer step on the summed gradients of N batches: the effective batch of N x "
              "--batch-size in the memory of one (e.g. on a Jetson Nano; batch norm sees --batch-size "
              "images). Steps, the schedule and --max-steps-per-epoch count optimizer steps")
    _add(optim, "--epochs", "--num-epochs", type=int, default=30)
    _add(optim, "--workers", "--num-workers", type=int, default=2, help="data loading processes")
    _add(optim, "--optimizer", choices=["sgd", "adamw"], default="sgd", help=BY_NET)
    _add(optim, "--lr", "--learning-rate", type=float, default=0.01, help=BY_NET)
    _add(optim, "--momentum", type=float, default=0.9)
    _add(optim, "--weight-decay", type=float, default=5e-4, help=BY_NET)
    _add(optim, "--base-net-lr", type=float, default=None,
         help=f"base net learning rate: {PRETRAINED_BASE_NET_LR} when starting from pretrained weights, "
              f"else --lr")
    _add(optim, "--extra-layers-lr", type=float, default=None, help="extra layers' rate (default --lr)")
    _add(optim, "--scheduler", choices=["cosine", "multi-step", "none"], default="cosine")
    _add(optim, "--t-max", type=float, default=None, help="cosine period in epochs (default --epochs)")
    _add(optim, "--milestones", default="80,100", help="multi-step epochs, comma-separated")
    _add(optim, "--gamma", type=float, default=0.1, help="multi-step decay")
    _add(optim, "--warmup-epochs", type=float, default=0.0, help=BY_NET)
    _add(optim, "--ema", action=argparse.BooleanOptionalAction, default=False,
         help="keep an exponential moving average of the weights (BatchNorm statistics included), updated "
              "after each optimizer step, and validate, choose checkpoint-best and save the model as that "
              "average (eval_ssd.py, onnx_export.py and --pretrained-ssd load it); checkpoints keep the "
              "trained weights too, for --resume)")
    _add(optim, "--ema-decay", type=float, default=0.99,
         help=f"the average's decay, warmed up as in YOLO: decay * (1 - exp(-updates / {WARMUP_UPDATES})); "
              f"from about 100 steps on the average spans about 1 / (1 - decay) steps (a longer run may "
              f"want a higher decay)")
    _add(optim, "--negatives-per-empty-image", type=int, default=8,
         help="hard negatives an image without boxes adds to the loss (0: none, as the earlier tools)")

    speed = parser.add_argument_group("speed")
    _add(speed, "--amp", action="store_true",
         help="mixed precision where the device computes it natively: bf16 on CPUs with AVX512-BF16 or AMX "
              "and on GPUs from compute capability 8.0, fp16 with a grad scaler on older GPUs; elsewhere "
              "float32 (the log says so)")
    _add(speed, "--amp-dtype", choices=["bfloat16", "float16"], default=None,
         help="force the --amp dtype, native or not")
    _add(speed, "--channels-last", action=argparse.BooleanOptionalAction, default=None,
         help="NHWC memory layout (default: on for CPUs, where it is faster, off on CUDA)%(default).0s")
    _add(speed, "--compile", action="store_true", help="torch.compile the net")
    _add(speed, "--sync-bn", action="store_true", help="SyncBatchNorm across GPUs under torchrun (CUDA only)")

    run = parser.add_argument_group("run")
    _add(run, "--model-dir", "--checkpoint-folder", default="models/", help="where checkpoints go")
    _add(run, "--resume", nargs="?", const="auto", default=None, metavar="PATH|auto",
         help="continue from a checkpoint, or from the newest in --model-dir with 'auto'")
    _add(run, "--keep-checkpoints", type=int, default=None, metavar="K",
         help="keep only the K newest per-epoch files (default: all)")
    _add(run, "--validation-epochs", type=int, default=1, help="validate every N epochs")
    _add(run, "--validation-mean-ap", action="store_true",
         help="also compute mAP at validation; checkpoint-best.pth then keeps the highest AP50, not the lowest loss")
    _add(run, "--debug-steps", type=int, default=10, help="log every N steps")
    _add(run, "--log-level", default="info", choices=["debug", "info", "warning", "error"])
    _add(run, "--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    _add(run, "--use-cuda", type=boolean, default=True,
         help="false trains on the CPU when --device is not given (the earlier tools' option)")
    _add(run, "--seed", type=int, default=0)
    _add(run, "--max-steps-per-epoch", type=int, default=None, help="cut epochs short (for quick checks)")
    return parser


def parse_args(argv=None) -> tuple[argparse.Namespace, set[str]]:
    """The options, and the names of those given on the command line (they override a resumed run's)."""
    args = build_parser().parse_args(argv)
    given = _given_options(argv)
    check(args)
    return args, given


def _given_options(argv) -> set[str]:
    # Parse again with every default suppressed: what remains was typed by the user.
    silent = build_parser()
    for action in silent._actions:
        action.default = argparse.SUPPRESS
    return set(vars(silent.parse_args(argv)))


def check(args: argparse.Namespace) -> None:
    """Raise OptionError for values that cannot work, before any work starts."""
    if args.resolution is None:
        args.resolution = NETS[args.net].resolution
    positive = ["batch_size", "accumulate_grad_batches", "epochs", "resolution", "validation_epochs",
                "debug_steps"]
    for name in positive:
        if getattr(args, name) <= 0:
            raise OptionError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    for name in ["workers", "keep_checkpoints"]:
        value = getattr(args, name)
        if value is not None and value < 0:
            raise OptionError(f"--{name.replace('_', '-')} cannot be negative, got {value}")
    if args.max_steps_per_epoch is not None and args.max_steps_per_epoch < 1:
        raise OptionError(f"--max-steps-per-epoch must be at least 1, got {args.max_steps_per_epoch}")
    for name in ["lr", "base_net_lr", "extra_layers_lr"]:
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise OptionError(f"--{name.replace('_', '-')} must be positive, got {value}")
    if not 0 < args.ema_decay < 1:
        raise OptionError(f"--ema-decay must be between 0 and 1, got {args.ema_decay}")
    try:
        args.milestones = [int(value) for value in str(args.milestones).split(",") if value.strip()]
    except ValueError:
        raise OptionError(f"--milestones must be comma-separated epochs, got {args.milestones!r}") from None
    if not args.datasets and not args.resume:
        raise OptionError("give the training data with --datasets PATH (or --data PATH)")
    for path in (args.datasets or []) + [args.validation_dataset]:
        if path is not None and not os.path.isdir(path):
            raise OptionError(f"{path}: dataset directory not found")
    for flag in ["labels", "pretrained_ssd", "base_net"]:
        path = getattr(args, flag)
        if flag == "pretrained_ssd" and path == TORCHVISION:
            continue
        if path is not None and not os.path.isfile(path):
            raise OptionError(f"--{flag.replace('_', '-')} {path}: file not found")
    if args.resume not in (None, "auto") and not os.path.isfile(args.resume):
        raise OptionError(f"--resume {args.resume}: file not found")
    if args.weights_backbone and args.net.startswith("mb1"):
        raise OptionError("--weights-backbone: torchvision has no MobileNet V1; use --base-net FILE")
    if args.mb2_width_mult != 1.0 and args.net != "mb2-ssd-lite":
        raise OptionError("--mb2-width-mult applies to --net mb2-ssd-lite only")
    if args.fit_priors and NETS[args.net].torchvision_layout:
        raise OptionError(f"--fit-priors: {args.net} keeps torchvision's default boxes; fitted priors are for "
                          f"the other nets")


# Options that change the net's parameters or priors: a checkpoint cannot be resumed under others.
STRUCTURE = {"net", "mb2_width_mult", "fit_priors"}


def settings(args: argparse.Namespace, given: set[str], resumed: Resumed | None) -> TrainSettings:
    """The run's settings: the options given, the resumed run's for the others, the net's from-scratch
    recipe."""
    if resumed and resumed.full:
        _take_resumed_options(args, given, resumed)
    recipe = recipes.apply(args, given, resumed.content if resumed else None)
    if args.datasets is None:  # --resume stood in for --datasets, but found no run of ours to take them from
        raise OptionError(f"--resume {args.resume}: no training checkpoint to take the data from; give it with "
                          f"--datasets PATH")
    data = DataSettings(
        roots=args.datasets, dataset_type=args.dataset_type, validation_dataset=args.validation_dataset,
        labels=args.labels, balance_data=args.balance_data, skip_empty_images=args.skip_empty_images,
        augmentation=args.data_augmentation, resolution=args.resolution, mean=NETS[args.net].mean,
        batch_size=args.batch_size, workers=args.workers, seed=args.seed)
    net = NetSettings(
        name=args.net, resolution=args.resolution, width_mult=args.mb2_width_mult, pretrained_ssd=args.pretrained_ssd,
        no_pretrained=args.no_pretrained, base_net=args.base_net, weights_backbone=args.weights_backbone,
        fit_priors=args.fit_priors)
    optimizer = OptimizerSettings(
        name=args.optimizer, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay,
        base_net_lr=args.base_net_lr, extra_layers_lr=args.extra_layers_lr, freeze_base_net=args.freeze_base_net,
        freeze_net=args.freeze_net, given=frozenset(GROUP_KEYS.keys() & given))
    schedule = Schedule(scheduler=args.scheduler, t_max=args.t_max or args.epochs, milestones=args.milestones,
                        gamma=args.gamma, warmup_epochs=args.warmup_epochs)
    return TrainSettings(
        data=data, net=net, optimizer=optimizer, schedule=schedule, model_dir=Path(args.model_dir), seed=args.seed,
        epochs=args.epochs, accumulate=args.accumulate_grad_batches, max_steps_per_epoch=args.max_steps_per_epoch,
        validation_epochs=args.validation_epochs, validation_mean_ap=args.validation_mean_ap,
        debug_steps=args.debug_steps, keep_checkpoints=args.keep_checkpoints, amp=args.amp, amp_dtype=args.amp_dtype,
        channels_last=args.channels_last, compile=args.compile, sync_bn=args.sync_bn,
        ema_decay=args.ema_decay if args.ema else None, negatives_per_empty_image=args.negatives_per_empty_image,
        options=dict(vars(args)), recipe=recipe)


def _take_resumed_options(args: argparse.Namespace, given: set[str], resumed: Resumed) -> None:
    """Set the resumed run's options on `args` for those not given; refuse a change of the net's structure."""
    saved = resumed.content["args"]
    overrides = sorted(name for name in given if name != "resume" and saved.get(name) != getattr(args, name))
    for name in sorted(STRUCTURE.intersection(overrides)):
        flag = "--" + name.replace("_", "-")
        raise OptionError(f"{resumed.path}: saved with {flag} {saved.get(name)}, not {getattr(args, name)}; "
                          f"{flag} cannot change on resume (to fine-tune it as another net, start a new run with "
                          f"--pretrained-ssd)")
    for name, value in saved.items():
        if name not in given and name != "resume":
            setattr(args, name, value)
    if overrides:
        log.info("resuming %s with overrides: %s", resumed.source,
                 ", ".join(f"--{name.replace('_', '-')}={getattr(args, name)}" for name in overrides))
    else:
        log.info("resuming %s at epoch %d, %d images into it", resumed.source, resumed.content["epoch"],
                 resumed.content["samples_in_epoch"])
