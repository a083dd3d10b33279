import torch
from torch.utils.data import DataLoader

from vision.datasets import Sample, TransformedDataset, collate_samples, open_dataset
from vision.transforms import SSDTrainTransform
from vision.utils.box_utils import PADDING_LABEL, match_priors


def epochs_of_batches(samples, workers, epochs=2):
    loader = DataLoader(samples, batch_size=4, num_workers=workers, persistent_workers=workers > 0,
                        collate_fn=collate_samples)
    batches = []
    for epoch in range(epochs):
        samples.set_epoch(epoch)
        batches.append(list(loader))
    return batches


def test_batches_do_not_depend_on_the_number_of_workers(shapes):
    samples = TransformedDataset(open_dataset(shapes, "train"), SSDTrainTransform(64, (127, 127, 127)), 5)
    serial, parallel = epochs_of_batches(samples, 0), epochs_of_batches(samples, 2)
    for serial_epoch, parallel_epoch in zip(serial, parallel):
        for one, other in zip(serial_epoch, parallel_epoch, strict=True):
            for name in ("images", "boxes", "labels", "indices", "sizes"):
                assert torch.equal(getattr(one, name), getattr(other, name)), name
    # persistent workers saw the new epoch: the second epoch differs from the first
    assert not torch.equal(serial[0][0].images, serial[1][0].images)
    assert torch.equal(serial[1][0].images, parallel[1][0].images)


def sample(count, index):
    boxes = torch.tensor([[0.1, 0.1, 0.5, 0.5]]).repeat(count, 1)
    return Sample(torch.full((3, 8, 8), index, dtype=torch.uint8), boxes,
                  torch.arange(1, count + 1), index, (20, 30))


def test_collate_pads_targets_for_batched_matching():
    batch = collate_samples([sample(2, 0), None, sample(0, 2), sample(3, 3)])
    assert batch.images.shape == (3, 3, 8, 8) and batch.images.dtype == torch.uint8
    assert batch.boxes.shape == (3, 3, 4) and batch.boxes.dtype == torch.float32
    assert batch.labels.tolist() == [[1, 2, PADDING_LABEL], [PADDING_LABEL] * 3, [1, 2, 3]]
    assert batch.indices.tolist() == [0, 2, 3] and batch.sizes.tolist() == [[20, 30]] * 3
    assert batch.skipped == 1
    priors = torch.tensor([[0.3, 0.3, 0.4, 0.4], [0.8, 0.8, 0.2, 0.2]])
    labels, _ = match_priors(batch.boxes, batch.labels, priors)
    assert labels.tolist() == [[2, 0], [0, 0], [3, 0]]


def test_collate_with_no_boxes_or_no_images():
    empty_targets = collate_samples([sample(0, 0), sample(0, 1)])
    assert empty_targets.boxes.shape == (2, 0, 4) and empty_targets.labels.shape == (2, 0)
    nothing = collate_samples([None, None])
    assert nothing.images.shape[0] == 0 and nothing.skipped == 2
