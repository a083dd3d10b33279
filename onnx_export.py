#!/usr/bin/env python3
"""Export a trained SSD to ONNX for jetson-inference's detectNet, check it, print the detectnet command.

    python3 onnx_export.py --model-dir=models/fruit      # writes models/fruit/ssd-mobilenet.onnx
"""
import sys

from vision.commands.export import main

if __name__ == "__main__":
    sys.exit(main())
