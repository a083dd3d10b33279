#!/usr/bin/env python3
"""Decode every image under --path and set aside the ones that do not decode fully.

Invalid files are moved to <path>_invalid/ (or deleted with --delete) and listed with the reason
in <path>_validation_report.json. With --annotations, the COCO JSON is rewritten without them
(the original is kept as <name>.orig.json). Files already in <path>_invalid/ (an earlier run, perhaps
cut short) are listed and dropped from the JSON too. An image whose header claims more pixels than
$SSD_MAX_IMAGE_PIXELS (default 178956970) is invalid without being decoded. Exit code: 0 all valid,
1 invalid files found (now or earlier), 2 usage error.
"""
import sys

from vision.commands.validate_images import main

if __name__ == "__main__":
    sys.exit(main())
