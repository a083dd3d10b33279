#!/usr/bin/env python3
"""Evaluate an SSD: COCO and VOC metrics of a model, its ONNX export, or saved detections.

    python3 eval_ssd.py --net mb1-ssd --trained_model models/fruit/checkpoint-best.pth --dataset data/fruit
    python3 eval_ssd.py --detections dets.json --annotations instances_val2017.json
"""
import sys

from vision.commands.eval import main

if __name__ == "__main__":
    sys.exit(main())
