"""The step from dataset items to training samples: transforms seeded per sample."""
from typing import Callable, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset


class Sample(NamedTuple):
    image: Tensor            # uint8 [3, S, S]
    boxes: Tensor            # float32 [G, 4] corners normalized to [0, 1]
    labels: Tensor           # int64 [G], 1..K
    index: int               # position in the wrapped dataset (dataset.target(index) for evaluation)
    size: tuple[int, int]    # (height, width) of the image as read


class TransformedDataset(Dataset):
    """Applies `transform` to each item of `dataset`, leaving out difficult boxes (not training targets).

    The transform's randomness is seeded from (seed, epoch, index) inside torch.random.fork_rng, so a
    sample is the same whatever the number of workers, and a run can be resumed exactly; the
    global RNG is left untouched. Call set_epoch before iterating each epoch: the epoch lives in
    shared memory, so persistent workers see it too. An unreadable image gives None, which the
    collate function drops and counts.
    """

    def __init__(self, dataset: Dataset, transform: Callable, seed: int = 0):
        self.dataset = dataset
        self.transform = transform
        self.seed = seed
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    def set_epoch(self, epoch: int) -> None:
        self._epoch.fill_(epoch)

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Sample | None:
        item = self.dataset[index]
        if item is None:
            return None
        image, target = item
        wanted = ~target["difficult"]
        with torch.random.fork_rng(devices=[]):
            # The CPU generator only: torch.manual_seed would also queue a CUDA seeding (recording a
            # stack trace each time), which fork_rng(devices=[]) does not undo.
            torch.default_generator.manual_seed(sample_seed(self.seed, self.epoch, index))
            output, boxes, labels = self.transform(image, target["boxes"][wanted], target["labels"][wanted])
        return Sample(output, boxes, labels, index, (image.shape[1], image.shape[2]))


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A well-mixed seed for one sample of one epoch (neighbouring indices give unrelated streams)."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1, dtype=np.uint64)[0])
