#!/usr/bin/env python3
"""Train an SSD detector: python3 train_ssd.py --dataset-type=voc --data=data/fruit --model-dir=models/fruit"""
import sys

from vision.cli import fail
from vision.datasets import DatasetError
from vision.ssd.weights import WeightsError
from vision.training.loop import train
from vision.training.options import OptionError, parse_args


def main(argv=None) -> int:
    try:
        args, given = parse_args(argv)
        train(args, given)
    except (OptionError, DatasetError, WeightsError, ValueError) as error:
        return fail("train_ssd.py", error)
    return 0


if __name__ == "__main__":
    sys.exit(main())
