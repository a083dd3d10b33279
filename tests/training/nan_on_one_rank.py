"""train_ssd.py under torchrun with the loss of one rank made NaN at one step, for the tests:

    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/training/nan_on_one_rank.py \
        RANK STEP OUT [train_ssd.py's options]

The loss of the STEP-th micro-batch (1 for the first) on rank RANK is NaN. Every rank writes its net's
parameters to OUT/rank<N>.pt when training returns, so that the test can compare them."""
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: train_ssd, vision

import train_ssd  # noqa: E402
from vision.training import loop, step  # noqa: E402


def main() -> int:
    nan_rank, nan_step, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    rank = int(os.environ["RANK"])
    calls, nets = [0], []
    batch_loss, build_net = step.batch_loss, loop.build_net

    def poisoned_batch_loss(*args, **kwargs):
        regression, classification = batch_loss(*args, **kwargs)
        calls[0] += 1
        if rank == nan_rank and calls[0] == nan_step:
            regression = regression * float("nan")
        return regression, classification

    def kept_net(*args, **kwargs):
        net, pretrained = build_net(*args, **kwargs)
        nets.append(net)
        return net, pretrained

    step.batch_loss, loop.build_net = poisoned_batch_loss, kept_net
    code = train_ssd.main(sys.argv[4:])
    torch.save({name: value.detach() for name, value in nets[0].named_parameters()}, out / f"rank{rank}.pt")
    return code


if __name__ == "__main__":
    sys.exit(main())
