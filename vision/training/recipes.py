"""train_ssd.py's defaults per net when it trains from scratch: the recipe of each net the earlier tools did
not have. The earlier tools' nets have none, so that their users' commands keep their meaning; fine-tuning
from weights (--pretrained-ssd, --base-net, --weights-backbone) keeps the options' defaults too. Flags given
on the command line win over the recipe, and a resumed run keeps the values of the run it continues."""
import argparse
from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Recipe:
    """Values of train_ssd.py's options, under their argparse names."""
    optimizer: str
    lr: float
    weight_decay: float
    warmup_epochs: float
    batch_size: int
    data_augmentation: str
    fit_priors: bool

    def describe(self) -> str:
        priors = ", fitted priors" if self.fit_priors else ""
        return (f"{self.optimizer} lr {self.lr:g}, weight decay {self.weight_decay:g}, warm-up "
                f"{self.warmup_epochs:g} epochs, batch {self.batch_size}, {self.data_augmentation}{priors}")


# MobileNetV3 SSDLite from scratch, measured by bench/accuracy.py on real data (raccoon) and small objects:
# flips only and batches of 8 at a high AdamW rate with a short warm-up (a run of minutes learns fastest
# without crops or zoom out); fitted priors cover the small objects the net's own miss (twice the AP on
# objects of 12-48 px) and keep the net's own where those already cover the boxes. No weight average
# (--ema): it raised raccoon's AP50 after 12 epochs (0.556 -> 0.676) and after 24 barely (0.609 -> 0.618),
# but on the small objects after 4 epochs it gave AP50 0 (0.403 without): its averaged batch-norm
# statistics trail weights that move this fast. Also measured and left out (docs/results.md, "What the recipe
# is made of"): 256 x 256 (faster, better on large objects, loses small ones), vertical flips, batch norm
# momentum 0.1, other aspect ratios.
_MOBILE = Recipe(optimizer="adamw", lr=0.006, weight_decay=0.05, warmup_epochs=0.3, batch_size=8,
                 data_augmentation="hflip", fit_priors=True)
# torchvision's nets keep torchvision's default boxes.
_MOBILE_TORCHVISION_BOXES = replace(_MOBILE, fit_priors=False)
# VGG16 has no batch norm: torchvision's reference recipe for SSD300 (SGD 0.002, weight decay 5e-4, SSD
# augmentation, a warm-up of about an epoch). Not measured here: VGG16 from scratch takes hours on a CPU.
_VGG = Recipe(optimizer="sgd", lr=0.002, weight_decay=5e-4, warmup_epochs=1.0, batch_size=8,
              data_augmentation="ssd", fit_priors=False)

FROM_SCRATCH: dict[str, Recipe] = {
    "mb3-large-ssd-lite": _MOBILE,
    "mb3-small-ssd-lite": _MOBILE,
    "ssdlite320-mb3-large": _MOBILE_TORCHVISION_BOXES,
    "ssd300-vgg16": _VGG,
}
OPTIONS = [field.name for field in fields(Recipe)]  # the options whose default depends on the net


def from_scratch(args: argparse.Namespace) -> bool:
    """Whether the run starts without weights (the recipe nets have no default weights to download)."""
    return not (args.pretrained_ssd or args.base_net or args.weights_backbone)


def apply(args: argparse.Namespace, given: set[str], resume: dict | None) -> str | None:
    """Set the net's from-scratch recipe on `args` for the options not in `given`; the line to log that says
    which recipe the run uses (None: the net has none, or the run is resumed). Not on resume: a resumed
    checkpoint's arguments are those of its run, and a plain weights file is fine-tuning."""
    recipe = FROM_SCRATCH.get(args.net)
    if recipe is None or (resume and "args" in resume):
        return None
    if resume or not from_scratch(args):
        return (f"recipe: the options' defaults, for fine-tuning {args.net} from weights (its from-scratch "
                f"recipe is for training without them)")
    overridden = []
    for name in OPTIONS:
        if name not in given:
            setattr(args, name, getattr(recipe, name))
        elif getattr(args, name) != getattr(recipe, name):
            overridden.append(_given(name, getattr(args, name)))
    return "; ".join([f"recipe: from-scratch for {args.net} ({recipe.describe()})", *overridden])


def _given(name: str, value) -> str:
    flag = name.replace("_", "-")
    if isinstance(value, bool):
        return f"--{'' if value else 'no-'}{flag} given"
    return f"--{flag} given: {value}"


def help_epilog() -> str:
    """The recipes, for train_ssd.py --help."""
    flags = ", ".join(f"--{name.replace('_', '-')}" for name in OPTIONS)
    nets_of = {}
    for net, recipe in FROM_SCRATCH.items():
        nets_of.setdefault(recipe, []).append(net)
    nets = "; ".join(f"{', '.join(names)}: {recipe.describe()}" for recipe, names in nets_of.items())
    return (f"From scratch (no --pretrained-ssd, --base-net or --weights-backbone), these nets default to "
            f"their recipe for {flags} (flags given win): {nets}.")
