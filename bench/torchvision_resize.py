"""How far apart are the detections of the two resizes (eval_ssd.py --resize antialias / torchvision)?

Runs ssdlite320-mb3-large on every image of a directory tree with torchvision's post-processing, once
with our antialiased uint8 resize and once with torchvision's (bilinear without antialiasing, on
float), and prints how much the 320x320 inputs and the detections differ. `--weights torchvision`
uses the COCO weights (downloaded once); the default, `random`, is a randomly initialized model with
spread-out scores (tests/model_helpers.randomized), for machines without them.

    python3 bench/torchvision_resize.py [--images /path/to/coco128] [--weights random|torchvision]
"""
import argparse
import sys
from pathlib import Path

import numpy as np
from torchvision.models.detection import ssdlite320_mobilenet_v3_large
from torchvision.ops import box_iou

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from model_helpers import randomized  # noqa: E402
from vision.datasets.images import load_image  # noqa: E402
from vision.ssd import create_net  # noqa: E402
from vision.ssd.predictor import Predictor  # noqa: E402
from vision.ssd.weights import load_weights  # noqa: E402
from vision.transforms import resize_image  # noqa: E402

NET = "ssdlite320-mb3-large"
POSTPROCESSING = dict(score_threshold=0.001, nms_iou_threshold=0.55, top_k=300, candidates_per_class=300)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=str(REPO.parent / "shared" / "data" / "coco128"))
    parser.add_argument("--weights", choices=("random", "torchvision"), default="random")
    args = parser.parse_args()
    net = create_net(NET, 91, is_test=True)
    if args.weights == "torchvision":
        load_weights(net, "torchvision")
    else:
        net.load_state_dict(randomized(ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)).state_dict())
    ours, theirs = (Predictor(net, resize=resize, **POSTPROCESSING) for resize in ("antialias", "torchvision"))
    pixels, same_top, top_iou, matched, score_gap = [], [], [], [], []
    files = sorted(Path(args.images).rglob("*.jpg"))
    for path in files:
        image = load_image(path)
        pixels.append((resize_image(image, 320).float() - resize_image(image, 320, "torchvision")).abs().mean().item())
        a, b = ours.predict(image), theirs.predict(image)
        same_top.append(float(a.labels[0] == b.labels[0]))
        top_iou.append(box_iou(a.boxes[:1], b.boxes[:1]).item())
        same_label = a.labels[:100, None] == b.labels[None, :100]
        matched.append(((box_iou(a.boxes[:100], b.boxes[:100]) > 0.9) & same_label).any(1).float().mean().item())
        score_gap.append((a.scores[:100] - b.scores[:100]).abs().max().item())
    print(f"{len(files)} images, {args.weights} weights")
    print(f"320x320 inputs: mean |difference| {np.mean(pixels):.2f} gray levels (worst image {np.max(pixels):.2f})")
    print(f"top detection: same label in {np.mean(same_top):.0%} of images, IoU mean {np.mean(top_iou):.3f}")
    print(f"top-100 detections with a same-label IoU > 0.9 twin: {np.mean(matched):.0%}")
    print(f"largest rank-wise score difference in the top 100: mean {np.mean(score_gap):.4f}, "
          f"max {np.max(score_gap):.4f}")


if __name__ == "__main__":
    main()
