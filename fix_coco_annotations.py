#!/usr/bin/env python3
"""Make COCO instances files ready for training and write the dataset's labels.txt.

The options and what they do: vision/commands/fix_coco.py (or --help).
"""
import sys

from vision.commands.fix_coco import main

if __name__ == "__main__":
    sys.exit(main())
