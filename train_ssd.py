#!/usr/bin/env python3
"""Train an SSD detector: python3 train_ssd.py --dataset-type=voc --data=data/fruit --model-dir=models/fruit"""
import sys

from vision.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
