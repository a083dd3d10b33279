import torch
from torchvision.transforms.v2 import functional as F

from vision.datasets import TransformedDataset, open_dataset
from vision.transforms import SSDEvalTransform, SSDTrainTransform, sample_view, train_transform
from vision.transforms.ssd_augment import shift_hue


def test_training_samples_have_valid_boxes_in_the_unit_square(coco128):
    dataset = open_dataset(coco128, "val")
    samples = TransformedDataset(dataset, SSDTrainTransform(160, (127, 127, 127)), seed=1)
    kept = 0
    for epoch in range(3):
        samples.set_epoch(epoch)
        for index in range(len(dataset)):
            sample = samples[index]
            assert sample.image.shape == (3, 160, 160) and sample.image.dtype == torch.uint8
            assert sample.boxes.dtype == torch.float32 and sample.labels.dtype == torch.int64
            assert len(sample.boxes) == len(sample.labels)
            assert ((sample.boxes >= 0) & (sample.boxes <= 1)).all()
            widths, heights = (sample.boxes[:, 2:] - sample.boxes[:, :2]).unbind(1)
            assert (widths >= 1 / 160).all() and (heights >= 1 / 160).all()
            kept += len(sample.labels)
    assert kept > 0


def test_a_view_places_the_visible_part_inside_the_output():
    boxes = torch.tensor([[10.0, 10.0, 60.0, 40.0], [70.0, 5.0, 90.0, 45.0]])
    for seed in range(100):
        torch.manual_seed(seed)
        view = sample_view(50, 100, boxes, size=64)
        top, left, height, width = view.source
        assert 0 <= top and 0 <= left and top + height <= 50 and left + width <= 100
        top, left, height, width = view.target
        assert 0 <= top and 0 <= left and top + height <= 64 and left + width <= 64
        assert height >= 1 and width >= 1 and view.keep.any()


def test_zoom_out_fills_the_canvas_with_the_mean_and_a_negative_stays_whole():
    transform = SSDTrainTransform(64, (10, 20, 30), zoom_out_probability=1.0, max_zoom_out=4.0)
    image = torch.full((3, 40, 40), 200, dtype=torch.uint8)
    torch.manual_seed(0)
    output, boxes, labels = transform(image, torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64))
    assert output.shape == (3, 64, 64) and len(boxes) == 0 and len(labels) == 0
    corners = output[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert (corners == torch.tensor([[10], [20], [30]], dtype=torch.uint8)).any(dim=1).all()


def test_hflip_recipe_only_resizes_and_mirrors(shapes):
    dataset = open_dataset(shapes, "train")
    samples = TransformedDataset(dataset, train_transform("hflip", 64, (127, 127, 127)), seed=3)
    resize = SSDEvalTransform(64)
    mirrored = 0
    for index in range(len(dataset)):
        image, target = dataset[index]
        plain, boxes, _ = resize(image, target["boxes"], target["labels"])
        sample = samples[index]
        flipped = not torch.equal(sample.image, plain)
        if flipped:
            assert torch.equal(sample.image, F.horizontal_flip(plain))
            boxes = torch.stack([1 - boxes[:, 2], boxes[:, 1], 1 - boxes[:, 0], boxes[:, 3]], dim=1)
        assert torch.allclose(sample.boxes, boxes, atol=1e-6)
        mirrored += flipped
    assert 0 < mirrored < len(dataset)


def test_flips_recipe_mirrors_both_ways_and_moves_the_boxes_along():
    image = torch.randint(0, 256, (3, 48, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    boxes = torch.tensor([[8.0, 4.0, 24.0, 20.0], [40.0, 30.0, 60.0, 44.0]])
    labels = torch.tensor([1, 2])
    plain, unit_boxes, _ = SSDEvalTransform(32)(image, boxes, labels)
    x0, y0, x1, y1 = unit_boxes.unbind(dim=1)
    views = {
        "plain": (plain, unit_boxes),
        "horizontal": (F.horizontal_flip(plain), torch.stack([1 - x1, y0, 1 - x0, y1], dim=1)),
        "vertical": (F.vertical_flip(plain), torch.stack([x0, 1 - y1, x1, 1 - y0], dim=1)),
        "both": (F.vertical_flip(F.horizontal_flip(plain)), torch.stack([1 - x1, 1 - y1, 1 - x0, 1 - y0], dim=1)),
    }
    transform = train_transform("flips", 32, (127, 127, 127))
    seen = set()
    for seed in range(40):
        torch.manual_seed(seed)
        output, moved, kept = transform(image, boxes, labels)
        name = next(name for name, (expected, _) in views.items() if torch.equal(output, expected))
        assert torch.allclose(moved, views[name][1], atol=1e-6) and torch.equal(kept, labels)
        seen.add(name)
    assert seen == set(views)


def test_ssdlite_recipe_crops_but_never_zooms_out():
    boxes = torch.tensor([[10.0, 10.0, 60.0, 40.0], [70.0, 5.0, 90.0, 45.0]])
    transform = train_transform("ssdlite", 64, (127, 127, 127))
    cropped = 0
    for seed in range(100):
        torch.manual_seed(seed)
        view = sample_view(50, 100, boxes, 64, transform.zoom_out_probability, crop_trials=transform.crop_trials)
        assert view.target == (0, 0, 64, 64)  # the image covers the whole output: no mean-filled border
        cropped += view.source != (0, 0, 50, 100)
    assert cropped > 50


def test_eval_transform_is_the_predictors_resize():
    image = torch.randint(0, 256, (3, 48, 80), dtype=torch.uint8)
    boxes = torch.tensor([[8.0, 12.0, 40.0, 48.0]])
    output, normalized, labels = SSDEvalTransform(64)(image, boxes, torch.tensor([3]))
    assert torch.equal(output, F.resize(image, [64, 64], antialias=True))
    assert torch.allclose(normalized, torch.tensor([[0.1, 0.25, 0.5, 1.0]]))
    assert labels.tolist() == [3]


def test_hue_shift_agrees_with_torchvision_up_to_8_bit_hue_steps():
    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    for factor in (-0.05, 0.0, 0.02, 0.5):
        difference = (shift_hue(image, factor).int() - F.adjust_hue(image, factor).int()).abs()
        assert difference.float().mean() < 1.0 and difference.max() <= 8


def test_samples_depend_on_seed_epoch_and_index_only(shapes):
    samples = TransformedDataset(open_dataset(shapes, "train"), SSDTrainTransform(64, (127, 127, 127)), 7)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = samples[3]
    assert torch.equal(torch.get_rng_state(), before)  # the global RNG is left alone
    samples[5]
    again = samples[3]
    assert torch.equal(first.image, again.image) and torch.equal(first.boxes, again.boxes)
    samples.set_epoch(1)
    assert not torch.equal(samples[3].image, first.image)
    other_seed = TransformedDataset(samples.dataset, samples.transform, seed=8)
    assert not torch.equal(other_seed[3].image, first.image)
