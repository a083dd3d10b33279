"""Download and extract the COCO 2017 archives into --path.

Downloads resume after an interruption, are checked (size, MD5 where known, zip CRCs) before
extraction, and a finished archive is skipped on the next run.
"""

import argparse
import sys

from vision.cli import OneLineParser, run_main
from vision.prep.coco_download import ALL_SPLITS, DEFAULT_BASE_URL, DEFAULT_SPLITS, download_coco
from vision.prep.download import add_speed_options

PROG = "coco_downloader.py"


def parse_args(argv=None):
    parser = OneLineParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default="coco-data", help="dataset directory (default: %(default)s)")
    parser.add_argument("--splits", nargs="+", choices=ALL_SPLITS, default=list(DEFAULT_SPLITS),
                        help="archives to fetch (default: %(default)s)")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, help="server to fetch from (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="archives fetched at once (default: %(default)s)")
    parser.add_argument("--retries", type=int, default=5, help="attempts after a failed one (default: %(default)s)")
    add_speed_options(parser)
    parser.add_argument("--keep-zips", action="store_true", help="keep each zip after extracting it")
    parser.add_argument("--no-extract", action="store_true", help="download and check the zips only")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)

    def body():
        for line in download_coco(args.path, args.splits, base_url=args.base_url, workers=args.workers,
                                  keep_zips=args.keep_zips, extract=not args.no_extract, retries=args.retries,
                                  timeout=args.timeout, min_speed=args.min_speed):
            print(line)
        return 0

    return run_main(PROG, body, error_code=1)


if __name__ == "__main__":
    sys.exit(main())
