#!/usr/bin/env python3
"""Download the boxes and images of some Open Images classes (e.g. --class-names "Apple,Orange,Banana").

Writes <data>/sub-{train,validation,test}-annotations-bbox.csv and <data>/<split>/<ImageID>.jpg,
the layout train_ssd.py --dataset-type=open_images reads. Use --stats-only first to see how much
data the classes have; --max-images / --max-annotations-per-class limit it (sampled with --seed).
"""
import sys

from vision.commands.open_images_download import main

if __name__ == "__main__":
    sys.exit(main())
