#!/usr/bin/env python3
"""Detect objects with a trained SSD, or its ONNX export, in images, directories of images and videos.

    python3 run_ssd_example.py mb1-ssd models/fruit/checkpoint-best.pth models/fruit/labels.txt photo.jpg
    python3 run_ssd_example.py mb1-ssd models/fruit/ssd-mobilenet.onnx models/fruit/labels.txt clip.mp4 --onnx
"""
import sys

from vision.commands.example import main

if __name__ == "__main__":
    sys.exit(main())
