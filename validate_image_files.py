#!/usr/bin/env python3
"""Decode every image under --path and set aside the ones that do not decode fully.

The options and what they do: vision/commands/validate_images.py (or --help).
"""
import sys

from vision.commands.validate_images import main

if __name__ == "__main__":
    sys.exit(main())
