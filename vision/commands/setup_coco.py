"""Prepare COCO 2017 for training in one go: download, validate the images, fix the annotations.

Each step skips work already done, so after an interruption run the same command again.
Ends by printing the training command.
"""

import argparse
import sys

from vision.cli import OneLineParser, run_main
from vision.prep.coco_download import DEFAULT_BASE_URL
from vision.prep.coco_setup import setup_coco

PROG = "setup_coco"


def parse_args(argv=None):
    parser = OneLineParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default="coco-data", help="dataset directory (default: %(default)s)")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, help="server to fetch from (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="archives fetched at once (default: %(default)s)")
    parser.add_argument("--num-workers", type=int, default=None,
                        help="image-decoding processes (default: one per CPU)")
    parser.add_argument("--move-unannotated", action="store_true",
                        help="move images without annotations aside (by default they stay, as negatives)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)

    def body():
        command = setup_coco(args.path, args.base_url, args.workers, args.num_workers, args.move_unannotated)
        print("\nCOCO is ready. Train with:\n")
        print(f"  {command}")
        return 0

    return run_main(PROG, body, error_code=1)


if __name__ == "__main__":
    sys.exit(main())
