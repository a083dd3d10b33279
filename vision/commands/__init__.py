"""The command lines, one module per command: each parses, checks and calls one library function.

The scripts at the repository's top (train_ssd.py, eval_ssd.py, ...) and the commands that `pip install`
makes (ssd-train, ssd-eval, ...) both run these modules' main(); so does `python -m vision.commands.<name>`.
"""
