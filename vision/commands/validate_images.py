"""Decode every image under --path and set aside the ones that do not decode fully.

Invalid files are moved to <path>_invalid/ (or deleted with --delete) and listed with the reason
in <path>_validation_report.json. With --annotations, the COCO JSON is rewritten without them
(the original is kept as <name>.orig.json). Files already in <path>_invalid/ (an earlier run, perhaps
cut short) are listed and dropped from the JSON too. An image whose header claims more pixels than
$SSD_MAX_IMAGE_PIXELS (default 178956970) is invalid without being decoded. Exit code: 0 all valid,
1 invalid files found (now or earlier), 2 usage error.
"""

import argparse
import sys
from pathlib import Path

from vision.cli import OneLineParser, run_main
from vision.prep.validate import action, validate_directory

PROG = "validate_image_files.py"


def parse_args(argv=None):
    parser = OneLineParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", required=True, help="directory of images (searched recursively)")
    parser.add_argument("--num-workers", "--num_workers", type=int, default=None,
                        help="decoding processes (default: one per CPU; 1 decodes in this process)")
    parser.add_argument("--delete", action="store_true", help="delete invalid files instead of moving them")
    parser.add_argument("--annotations", help="COCO instances JSON to remove the invalid images from")
    args = parser.parse_args(argv)
    if not Path(args.path).is_dir():
        parser.error(f"--path {args.path}: not a directory")
    if args.annotations and not Path(args.annotations).is_file():
        parser.error(f"--annotations {args.annotations}: file not found")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)

    def body():
        result = validate_directory(Path(args.path), args.num_workers, args.delete,
                                    Path(args.annotations) if args.annotations else None)
        for rel, reason in result.earlier:
            print(f"set aside earlier: {rel}: {reason}")
        for rel, reason in result.invalid:
            print(f"invalid: {rel}: {reason}")
        done = action(Path(args.path), result)
        print(f"checked {result.checked} images: {len(result.invalid)} invalid"
              + ("" if done == "none" else f", {done}"))
        if result.annotations.get("images_removed"):
            print(f"removed {result.annotations['images_removed']} images and "
                  f"{result.annotations['annotations_removed']} annotations from {result.annotations['file']} "
                  f"(original kept as {result.annotations['backup']})")
        print(f"report: {result.report}")
        return 1 if result.invalid or result.earlier else 0

    return run_main(PROG, body, error_code=2)


if __name__ == "__main__":
    sys.exit(main())
