"""What a training run is told, typed and grouped by the part that reads it. train_ssd.py's options become
these in one place (vision/training/options.py, settings); below it nothing reads the command line."""
from dataclasses import dataclass
from pathlib import Path

from vision.training.schedule import Schedule


@dataclass(frozen=True)
class DataSettings:
    """The datasets and their loaders (vision/training/data.py)."""
    roots: list[str]
    dataset_type: str | None  # None: found from the files
    validation_dataset: str | None  # None: each root's validation split
    labels: str | None  # a class order file
    balance_data: bool
    skip_empty_images: bool
    augmentation: str  # a name of vision.transforms.AUGMENTATIONS
    resolution: int
    mean: tuple[float, float, float]  # the net's, in pixels: what the augmentation pads with
    batch_size: int
    workers: int
    seed: int


@dataclass(frozen=True)
class NetSettings:
    """The net and the weights it starts from (vision/training/model.py)."""
    name: str
    resolution: int
    width_mult: float
    pretrained_ssd: str | None
    no_pretrained: bool
    base_net: str | None
    weights_backbone: bool
    fit_priors: bool


@dataclass(frozen=True)
class OptimizerSettings:
    name: str  # sgd or adamw
    lr: float
    momentum: float
    weight_decay: float
    base_net_lr: float | None  # None: by whether the net starts from pretrained weights
    extra_layers_lr: float | None  # None: lr
    freeze_base_net: bool
    freeze_net: bool
    given: frozenset[str]  # those of lr, base_net_lr, extra_layers_lr, momentum, weight_decay given on the
    # command line: they win over a resumed optimizer's


@dataclass(frozen=True)
class TrainSettings:
    data: DataSettings
    net: NetSettings
    optimizer: OptimizerSettings
    schedule: Schedule
    model_dir: Path
    seed: int
    epochs: int
    accumulate: int  # micro-batches per optimizer step
    max_steps_per_epoch: int | None
    validation_epochs: int
    validation_mean_ap: bool  # checkpoint-best.pth follows the AP50, else the loss
    debug_steps: int  # TensorBoard's step scalars every so many steps
    keep_checkpoints: int | None  # per-epoch files kept; None: all
    amp: bool
    amp_dtype: str | None
    channels_last: bool | None  # None: the device's default
    compile: bool
    sync_bn: bool
    ema_decay: float | None  # None: no weight average
    negatives_per_empty_image: int
    options: dict  # the options as given and resumed: args.json, and the checkpoints' "args" that --resume reads
    recipe: str | None  # the line to log that says which recipe the run uses
