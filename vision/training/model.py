"""The net a training run starts from: resumed, pretrained SSD, base net, ImageNet, or scratch; and its
priors: the net's own, fitted to the training boxes (--fit-priors), or a resumed run's."""
import logging
import os

import torch

from vision.ssd import create_net, has_fitted_priors, set_priors
from vision.ssd.coverage import (START_UP_BOXES, dataset_boxes, finest_stride, measure, sample_images,
                                 short_report, uncovered_warning)
from vision.ssd.prior_fit import fit_specs
from vision.ssd.priors import specs_from_saved
from vision.ssd.ssd import SSD
from vision.ssd.weights import load_content, load_imagenet_base_net, load_weights, read_weights
from vision.training.options import PRETRAINED_MB1_FILE, PRETRAINED_MB1_URL
from vision.training.settings import NetSettings

log = logging.getLogger("train_ssd")


def build_net(settings: NetSettings, num_classes: int, resume: dict | None) -> tuple[SSD, bool]:
    """The net and whether it starts from pretrained weights (which sets the base net's default lr);
    `resume`: the content of vision/training/checkpoint.py's Resumed."""
    specs = specs_from_saved(resume["prior_specs"]) if resume and resume.get("prior_specs") else None
    net = create_net(settings.name, num_classes, settings.resolution, width_mult=settings.width_mult, specs=specs)
    if resume and "model" in resume:
        net.load_state_dict(resume.get("raw_model", resume["model"]))  # with --ema "model" is the average
        return net, resume.get("pretrained", True)
    source = resume["plain"] if resume else _pretrained_ssd(settings)
    if source:
        content = read_weights(source, net.net_name)
        log.info(load_content(net, content, source))
        if not resume and not settings.fit_priors:
            _take_fitted_priors(net, content, source)
        return net, True
    if settings.base_net:
        log.info(load_weights(net, settings.base_net))
        return net, True
    if settings.weights_backbone:
        log.info(load_imagenet_base_net(net))
        return net, True
    log.info("training %s from scratch", settings.name)
    return net, False


def _take_fitted_priors(net: SSD, content: dict, path: str) -> None:
    """Fine-tuning from a checkpoint whose priors were fitted starts from those priors: its heads learned
    to predict offsets from them (--fit-priors fits new ones to this data instead)."""
    if not hasattr(net, "own_specs") or not content.get("prior_specs"):
        return
    specs = specs_from_saved(content["prior_specs"])
    if specs == net.specs:
        return
    saved_at = content.get("resolution")
    if saved_at not in (None, net.resolution):
        log.warning("%s: its priors were fitted at %sx%s: training at %dx%d with the net's own (--fit-priors "
                    "fits new ones)", path, saved_at, saved_at, net.resolution, net.resolution)
        return
    set_priors(net, specs)  # the same resolution and net: the same feature maps
    log.info("priors of %s (fitted to its training boxes): min sizes %s", path,
             [round(spec.min_size, 1) for spec in specs])


def _pretrained_ssd(settings: NetSettings) -> str | None:
    """--pretrained-ssd, or for mb1-ssd the earlier tools' VOC model (downloaded when missing)."""
    if settings.pretrained_ssd or settings.no_pretrained or settings.name != "mb1-ssd" or settings.base_net:
        return settings.pretrained_ssd
    path = os.path.join("models", PRETRAINED_MB1_FILE)
    if os.path.isfile(path):
        return path
    try:
        os.makedirs("models", exist_ok=True)
        torch.hub.download_url_to_file(PRETRAINED_MB1_URL, path, progress=True)
    except OSError as error:  # offline: URLError is an OSError
        log.warning("could not download %s (%s): training mb1-ssd from scratch; --no-pretrained silences "
                    "this", PRETRAINED_MB1_URL, str(error).splitlines()[0] if str(error) else error)
        return None
    return path


def fit_and_report_priors(net: SSD, settings: NetSettings, train_set, resume: dict | None,
                          class_names: list[str]) -> None:
    """With --fit-priors on a fresh run, fit the net's prior sizes to the training boxes (a resumed run
    keeps the priors of its checkpoint); then log how many boxes the priors cover, warning about the
    classes they mostly miss."""
    boxes = dataset_boxes(train_set)
    if len(boxes) == 0:
        return
    sample = sample_images(boxes, START_UP_BOXES)
    if settings.fit_priors and not (resume and resume.get("prior_specs")):
        own = measure(sample, net.priors, class_names, settings.resolution)
        set_priors(net, fit_specs(net.specs, boxes.boxes, settings.resolution))
        log.info("fitted priors: min sizes %s, max sizes %s (the net's own cover %.0f%% of the boxes)",
                 [round(spec.min_size, 1) for spec in net.specs], [round(spec.max_size, 1) for spec in net.specs],
                 100 * own.summary()[1])
    coverage = measure(sample, net.priors, class_names, settings.resolution)
    for line in short_report(coverage, len(boxes)):
        log.info("%s", line)
    can_fit = hasattr(net, "own_specs") and not has_fitted_priors(net)  # not torchvision's nets, not twice
    warning = uncovered_warning(coverage, finest_stride(net), suggest_fit=can_fit)
    if warning:
        log.warning("%s", warning)
