"""SSD nets: `create_net(name, num_classes, resolution=None, is_test=False)` builds any of NET_NAMES."""
from collections.abc import Sequence

from vision.ssd.nets import NETS, NetConfig
from vision.ssd.priors import NetError, PriorSpec, check_layout, generate_priors, specs_for_resolution, specs_to_saved
from vision.ssd.ssd import SSD, init_head_weights
from vision.ssd.torchvision_ssd import TorchvisionSSD

NET_NAMES = tuple(NETS)
DEFAULT_RESOLUTION = 300


def default_resolution(name: str | None) -> int:
    """The input size a net is built for when none is given (320 for ssdlite320-mb3-large, else 300)."""
    config = NETS.get(name)
    return config.resolution if config else DEFAULT_RESOLUTION


def create_net(name: str, num_classes: int, resolution: int | None = None,
               is_test: bool = False, width_mult: float = 1.0,
               specs: Sequence[PriorSpec] | None = None) -> SSD | TorchvisionSSD:
    """An SSD with freshly initialized weights, its priors for `resolution` (default: the net's), and
    its mean/std.

    num_classes counts BACKGROUND (class 0). `width_mult` scales mb2-ssd-lite's base net. `specs`
    replaces the net's priors (fitted ones: same feature maps and anchors per location, else NetError;
    torchvision's nets keep torchvision's default boxes).
    """
    config = NETS.get(name)
    if config is None:
        raise NetError(f"unknown net {name!r}: choose one of {', '.join(NET_NAMES)}")
    if num_classes < 2:
        raise NetError(f"num_classes must count BACKGROUND and at least one class, got {num_classes}")
    if width_mult != 1.0 and name != "mb2-ssd-lite":
        raise NetError(f"width_mult applies to mb2-ssd-lite only, not {name}")
    resolution = resolution or config.resolution
    if config.torchvision_layout:
        if specs is not None:
            raise NetError(f"{name} keeps torchvision's default boxes: prior specs apply to the other nets")
        net = _torchvision_net(config, num_classes, resolution, is_test)
    else:
        net = _composed_net(config, num_classes, resolution, is_test, width_mult, specs)
    mean, std = config.input_scaling()
    net.mean, net.std = mean.view(1, 3, 1, 1), std.view(1, 3, 1, 1)
    return net


def _composed_net(config: NetConfig, num_classes: int, resolution: int, is_test: bool,
                  width_mult: float, specs: Sequence[PriorSpec] | None) -> SSD:
    options = {"width_mult": width_mult} if config.name == "mb2-ssd-lite" else {}
    anchors = [spec.anchors_per_location for spec in config.specs]
    parts = config.build(num_classes, anchors, **options)
    net = SSD(num_classes, parts.base_net, parts.taps, parts.extras, parts.classification_headers,
              parts.regression_headers, parts.source_layer_add_ons, is_test=is_test)
    for module in (net.extras, net.classification_headers, net.regression_headers):
        init_head_weights(module)
    net.net_name, net.resolution = config.name, resolution
    net.own_specs = _prior_specs(net, config, resolution)  # the earlier tools' priors at this resolution
    set_priors(net, net.own_specs if specs is None else specs)
    return net


def set_priors(net: SSD, specs: Sequence[PriorSpec]) -> None:
    """Give `net` the priors of `specs`, which must keep its feature maps and anchors per location."""
    check_layout(list(specs), net.own_specs)
    net.specs = list(specs)
    net.priors = generate_priors(net.specs, net.resolution).to(net.priors.device)


def has_fitted_priors(net: SSD | TorchvisionSSD) -> bool:
    return hasattr(net, "own_specs") and net.specs != net.own_specs


def saved_priors(net: SSD | TorchvisionSSD) -> list[dict] | None:
    """The net's prior specs as a checkpoint keeps them; None for torchvision's nets (their own boxes)."""
    return specs_to_saved(net.specs) if hasattr(net, "own_specs") else None


def _torchvision_net(config: NetConfig, num_classes: int, resolution: int, is_test: bool) -> TorchvisionSSD:
    net = config.build(num_classes)
    net.is_test = is_test
    net.net_name, net.resolution = config.name, resolution
    try:
        net.priors = net.default_priors(resolution)
    except RuntimeError as error:
        raise NetError(f"resolution {resolution} is too small for {config.name}: {error}") from None
    return net


def _prior_specs(net: SSD, config, resolution: int):
    if resolution == DEFAULT_RESOLUTION:
        return list(config.specs)
    try:
        sizes = net.feature_map_sizes(resolution)
    except RuntimeError as error:
        raise NetError(f"resolution {resolution} is too small for {config.name}: {error}") from None
    return specs_for_resolution(sizes, resolution, [spec.aspect_ratios for spec in config.specs])
