#!/usr/bin/env python3
"""Download and extract the COCO 2017 archives into --path.

Downloads resume after an interruption, are checked (size, MD5 where known, zip CRCs) before
extraction, and a finished archive is skipped on the next run.
"""
import sys

from vision.commands.coco_download import main

if __name__ == "__main__":
    sys.exit(main())
