"""Make COCO instances files ready for training and write the dataset's labels.txt.

For each split, coco-data/annotations/instances_<split>.json gets category ids 1..K (0 is
BACKGROUND) in raw-id order, each category keeping its raw id as `original_id`. The original file
is kept as instances_<split>.orig.json. Images without annotations are reported, and with
--move-unannotated moved to coco-data/<split>_unannotated/ and removed from the JSON.
Running it again on fixed files changes nothing.
"""

import argparse
import sys

from vision.cli import OneLineParser, run_main
from vision.prep.fix_annotations import DEFAULT_SPLITS, fix_coco

PROG = "fix_coco_annotations.py"


def parse_args(argv=None):
    parser = OneLineParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default="coco-data", help="dataset directory (default: %(default)s)")
    parser.add_argument("--splits", nargs="+", default=list(DEFAULT_SPLITS), help="(default: %(default)s)")
    parser.add_argument("--dry-run", action="store_true", help="report what would change, write nothing")
    parser.add_argument("--move-unannotated", action="store_true",
                        help="move images without annotations aside and remove them from the JSON")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)

    def body():
        for line in fix_coco(args.path, args.splits, args.dry_run, args.move_unannotated):
            print(line)
        return 0

    return run_main(PROG, body, error_code=1)


if __name__ == "__main__":
    sys.exit(main())
