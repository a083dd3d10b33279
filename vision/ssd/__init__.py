"""SSD nets: `create_net(name, num_classes, resolution=300, is_test=False)` builds any of NET_NAMES."""
from collections.abc import Sequence

import torch

from vision.ssd.nets import NETS
from vision.ssd.priors import PriorSpec, check_layout, generate_priors, specs_for_resolution
from vision.ssd.ssd import SSD, init_head_weights

NET_NAMES = tuple(NETS)
DEFAULT_RESOLUTION = 300


def create_net(name: str, num_classes: int, resolution: int = DEFAULT_RESOLUTION,
               is_test: bool = False, width_mult: float = 1.0,
               specs: Sequence[PriorSpec] | None = None) -> SSD:
    """An SSD with freshly initialized weights, its priors for `resolution`, and its mean/std.

    num_classes counts BACKGROUND (class 0). `width_mult` scales mb2-ssd-lite's base net. `specs`
    replaces the net's priors (fitted ones: same feature maps and anchors per location, else ValueError).
    """
    config = NETS.get(name)
    if config is None:
        raise ValueError(f"unknown net {name!r}: choose one of {', '.join(NET_NAMES)}")
    if num_classes < 2:
        raise ValueError(f"num_classes must count BACKGROUND and at least one class, got {num_classes}")
    if width_mult != 1.0 and name != "mb2-ssd-lite":
        raise ValueError(f"width_mult applies to mb2-ssd-lite only, not {name}")
    options = {"width_mult": width_mult} if name == "mb2-ssd-lite" else {}
    anchors = [spec.anchors_per_location for spec in config.specs]
    parts = config.build(num_classes, anchors, **options)
    net = SSD(num_classes, parts.base_net, parts.taps, parts.extras, parts.classification_headers,
              parts.regression_headers, parts.source_layer_add_ons, is_test=is_test)
    for module in (net.extras, net.classification_headers, net.regression_headers):
        init_head_weights(module)
    net.mean = torch.tensor(config.mean).view(1, 3, 1, 1)
    net.std = torch.full((1, 3, 1, 1), float(config.std))
    net.net_name, net.resolution = name, resolution
    net.own_specs = _prior_specs(net, config, resolution)  # the earlier tools' priors at this resolution
    set_priors(net, net.own_specs if specs is None else specs)
    return net


def set_priors(net: SSD, specs: Sequence[PriorSpec]) -> None:
    """Give `net` the priors of `specs`, which must keep its feature maps and anchors per location."""
    check_layout(list(specs), net.own_specs)
    net.specs = list(specs)
    net.priors = generate_priors(net.specs, net.resolution).to(net.priors.device)


def has_fitted_priors(net: SSD) -> bool:
    return net.specs != net.own_specs


def _prior_specs(net: SSD, config, resolution: int):
    if resolution == DEFAULT_RESOLUTION:
        return list(config.specs)
    try:
        sizes = net.feature_map_sizes(resolution)
    except RuntimeError as error:
        raise ValueError(f"resolution {resolution} is too small for {config.name}: {error}") from None
    return specs_for_resolution(sizes, resolution, [spec.aspect_ratios for spec in config.specs])
