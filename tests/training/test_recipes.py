"""The per-net from-scratch recipes (vision/training/recipes.py): the nets the earlier tools did not have
train from scratch with their recipe, flags given win, the earlier tools' nets and fine-tuning keep the
options' defaults, a resumed run keeps the values of its run."""
import json
import re
from dataclasses import replace

import pytest
import torch

import train_ssd
from vision.ssd import create_net
from vision.training import loop
from vision.training.options import PRETRAINED_BASE_NET_LR, build_parser
from vision.training.recipes import FROM_SCRATCH, Recipe

NET = "mb3-small-ssd-lite"
RECIPE = FROM_SCRATCH[NET]
OPTIMIZERS = {"adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


def options(data, model_dir, *extra, net=NET):
    return ["--data", str(data), "--model-dir", str(model_dir), "--net", net, "--no-pretrained", "--resolution",
            "128", "--max-steps-per-epoch", "1", "--epochs", "1", "--workers", "0", *extra]


@pytest.fixture
def built(monkeypatch):
    """The optimizers and training loaders that train_ssd.py builds, in order."""
    made = {"optimizers": [], "loaders": []}

    def keep(kind, build):
        def wrapped(*args, **kwargs):
            made[kind].append(build(*args, **kwargs))
            return made[kind][-1]
        return wrapped

    monkeypatch.setattr(loop, "build_optimizer", keep("optimizers", loop.build_optimizer))
    monkeypatch.setattr(loop, "train_loader", keep("loaders", loop.train_loader))
    return made


def settings(made, position=-1) -> dict:
    """What the run trained with: optimizer type, base rates and weight decays of its groups, batch size."""
    optimizer = made["optimizers"][position]
    return {"type": type(optimizer), "lr": {group["base_lr"] for group in optimizer.param_groups},
            "weight_decay": {group["weight_decay"] for group in optimizer.param_groups},
            "batch_size": made["loaders"][position].batch_size}


def saved_args(model_dir) -> dict:
    return json.loads((model_dir / "args.json").read_text())


def test_the_recipe_is_described_in_one_line():
    recipe = Recipe(optimizer="adamw", lr=0.006, weight_decay=0.05, warmup_epochs=0.3, batch_size=8,
                    data_augmentation="hflip", fit_priors=True)
    assert recipe.describe() == ("adamw lr 0.006, weight decay 0.05, warm-up 0.3 epochs, batch 8, hflip, "
                                 "fitted priors")
    assert replace(recipe, fit_priors=False).describe().endswith("batch 8, hflip")


def test_an_mb3_net_from_scratch_trains_with_its_recipe(shapes, tmp_path, built):
    assert train_ssd.main(options(shapes, tmp_path)) == 0
    assert settings(built) == {"type": OPTIMIZERS[RECIPE.optimizer], "lr": {RECIPE.lr},
                               "weight_decay": {RECIPE.weight_decay}, "batch_size": RECIPE.batch_size}
    args = saved_args(tmp_path)
    assert (args["warmup_epochs"], args["data_augmentation"]) == (RECIPE.warmup_epochs, RECIPE.data_augmentation)
    assert args["fit_priors"] is RECIPE.fit_priors is True
    assert args["ema"] is False  # no recipe keeps the weight average
    assert "fitted priors: min sizes" in (tmp_path / "train.log").read_text()
    assert f"recipe: from-scratch for {NET} ({RECIPE.describe()})\n" in (tmp_path / "train.log").read_text()


def test_an_mb3_net_from_scratch_at_batch_2_no_longer_diverges(shapes, tmp_path):
    """The options' defaults (SGD 0.01, no warm-up) made this run's validation loss nan after epoch 0."""
    assert train_ssd.main(options(shapes, tmp_path, "--batch-size", "2", "--max-steps-per-epoch", "3",
                                  "--epochs", "2")) == 0


def test_a_flag_given_overrides_one_value_of_the_recipe(shapes, tmp_path, built):
    """The log lists the flags that changed a value of the recipe (not --batch-size, given its value)."""
    assert train_ssd.main(options(shapes, tmp_path, "--lr", "0.003", "--batch-size", str(RECIPE.batch_size))) == 0
    assert settings(built) == {"type": OPTIMIZERS[RECIPE.optimizer], "lr": {0.003},
                               "weight_decay": {RECIPE.weight_decay}, "batch_size": RECIPE.batch_size}
    assert (f"recipe: from-scratch for {NET} ({RECIPE.describe()}); --lr given: 0.003\n"
            in (tmp_path / "train.log").read_text())


def test_no_fit_priors_keeps_the_net_own_priors(shapes, tmp_path):
    assert train_ssd.main(options(shapes, tmp_path, "--no-fit-priors")) == 0
    assert saved_args(tmp_path)["fit_priors"] is False
    assert "; --no-fit-priors given" in (tmp_path / "train.log").read_text()


def test_torchvision_boxes_are_kept_by_the_recipe_of_torchvision_nets():
    assert not FROM_SCRATCH["ssdlite320-mb3-large"].fit_priors and not FROM_SCRATCH["ssd300-vgg16"].fit_priors


def test_the_earlier_tools_nets_keep_the_options_defaults(shapes, tmp_path, built):
    assert "mb1-ssd-lite" not in FROM_SCRATCH
    assert train_ssd.main(options(shapes, tmp_path, net="mb1-ssd-lite")) == 0
    assert settings(built) == {"type": torch.optim.SGD, "lr": {0.01}, "weight_decay": {5e-4}, "batch_size": 4}
    assert built["optimizers"][0].param_groups[0]["momentum"] == 0.9
    args = saved_args(tmp_path)
    assert (args["warmup_epochs"], args["data_augmentation"], args["fit_priors"], args["ema"]) == (0.0, "ssd", False,
                                                                                               False)
    assert "recipe:" not in (tmp_path / "train.log").read_text()


def test_fine_tuning_an_mb3_net_from_weights_keeps_the_options_defaults(shapes, tmp_path, built):
    weights = tmp_path / "weights.pth"
    torch.save(create_net(NET, 3, 128).state_dict(), weights)
    assert train_ssd.main(options(shapes, tmp_path / "model", "--pretrained-ssd", str(weights))) == 0
    assert settings(built) == {"type": torch.optim.SGD, "lr": {PRETRAINED_BASE_NET_LR, 0.01}, "weight_decay": {5e-4},
                               "batch_size": 4}
    assert (f"recipe: the options' defaults, for fine-tuning {NET} from weights"
            in (tmp_path / "model" / "train.log").read_text())


def test_a_resumed_run_keeps_the_values_of_its_run(shapes, tmp_path, built):
    assert train_ssd.main(options(shapes, tmp_path, "--lr", "0.003", "--batch-size", "4")) == 0
    first = settings(built)
    assert train_ssd.main(["--resume", "auto", "--model-dir", str(tmp_path), "--epochs", "2"]) == 0
    assert settings(built) == first == {"type": OPTIMIZERS[RECIPE.optimizer], "lr": {0.003},
                                        "weight_decay": {RECIPE.weight_decay}, "batch_size": 4}
    assert saved_args(tmp_path)["warmup_epochs"] == RECIPE.warmup_epochs


def test_help_says_the_default_depends_on_the_net():
    text = re.sub(r"(\w)- (\w)", r"\1-\2", " ".join(build_parser().format_help().split()))  # unwrapped
    assert "--lr LR, --learning-rate LR, --learning_rate LR (default: 0.01; from scratch, the net's recipe: see " \
           "below)" in text
    assert f"{NET}" in text.split("From scratch")[1] and RECIPE.describe() in text
