"""Download the boxes and images of some Open Images classes (e.g. --class-names "Apple,Orange,Banana").

Writes <data>/sub-{train,validation,test}-annotations-bbox.csv and <data>/<split>/<ImageID>.jpg,
the layout train_ssd.py --dataset-type=open_images reads. Use --stats-only first to see how much
data the classes have; --max-images / --max-annotations-per-class limit it (sampled with --seed).
"""

import argparse
import sys

from vision.cli import OneLineParser, run_main
from vision.prep.download import add_speed_options
from vision.prep.open_images import DEFAULT_BASE_URL, DEFAULT_IMAGE_BASE_URL, download_open_images

PROG = "open_images_downloader.py"


def parse_args(argv=None):
    parser = OneLineParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--class-names", "--class_names", required=True,
                        help='comma-separated class names, e.g. "Apple,Orange,Banana"')
    parser.add_argument("--data", "--root", dest="root", default="data", help="output directory (default: %(default)s)")
    parser.add_argument("--max-images", type=int, default=0,
                        help="limit the total number of images, keeping each split's share (default: no limit)")
    parser.add_argument("--max-annotations-per-class", type=int, default=0,
                        help="limit the boxes of each class in each split (default: no limit)")
    parser.add_argument("--stats-only", action="store_true",
                        help="download the annotations and print the statistics, but no images")
    parser.add_argument("--include-depiction", action="store_true", help="keep boxes of drawings and depictions")
    parser.add_argument("--num-workers", "--num_workers", type=int, default=10,
                        help="images downloaded at once (default: %(default)s)")
    parser.add_argument("--retry", type=int, default=10, help="attempts after a failed one (default: %(default)s)")
    add_speed_options(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed of the --max-* sampling (default: %(default)s)")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, help="annotations server (default: %(default)s)")
    parser.add_argument("--image-base-url", default=DEFAULT_IMAGE_BASE_URL,
                        help="images server (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    class_names = [name.strip() for name in args.class_names.split(",") if name.strip()]

    def body():
        failed = download_open_images(
            args.root, class_names, max_images=max(args.max_images, 0),
            max_annotations_per_class=max(args.max_annotations_per_class, 0), stats_only=args.stats_only,
            include_depiction=args.include_depiction, num_workers=args.num_workers, retries=args.retry,
            timeout=args.timeout, min_speed=args.min_speed,
            seed=args.seed, base_url=args.base_url, image_base_url=args.image_base_url)
        missing = sum(len(ids) for ids in failed.values())
        if missing:
            print(f"warning: {missing} images could not be downloaded and were left out of the "
                  f"sub-*-annotations-bbox.csv files; re-run to try them again", file=sys.stderr)
        if not args.stats_only:
            print(f"done: {args.root}")
        return 0

    return run_main(PROG, body, error_code=1)


if __name__ == "__main__":
    sys.exit(main())
