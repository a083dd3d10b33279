"""Train an SSD detector: python3 train_ssd.py --dataset-type=voc --data=data/fruit --model-dir=models/fruit"""
import sys

from vision.cli import run_main
from vision.training.loop import train
from vision.training.options import parse_args

PROG = "train_ssd.py"


def main(argv=None) -> int:
    def body() -> int:
        train(*parse_args(argv))
        return 0

    return run_main(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
