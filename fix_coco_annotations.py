#!/usr/bin/env python3
"""Make COCO instances files ready for training and write the dataset's labels.txt.

For each split, coco-data/annotations/instances_<split>.json gets category ids 1..K (0 is
BACKGROUND) in raw-id order, each category keeping its raw id as `original_id`. The original file
is kept as instances_<split>.orig.json. Images without annotations are reported, and with
--move-unannotated moved to coco-data/<split>_unannotated/ and removed from the JSON.
Running it again on fixed files changes nothing.
"""
import sys

from vision.commands.fix_coco import main

if __name__ == "__main__":
    sys.exit(main())
