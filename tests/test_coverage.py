"""Prior coverage (vision/ssd/coverage.py) and priors fitted to the data (vision/ssd/prior_fit.py)."""
import pytest
import torch

from vision.datasets import open_dataset
from vision.datasets.synthetic import generate
from vision.ssd import NetError, coverage, create_net
from vision.ssd.coverage import Boxes, dataset_boxes, full_report, measure, sample_images, uncovered_warning
from vision.ssd.prior_fit import fit_specs
from vision.ssd.priors import generate_priors, specs_from_saved, specs_to_saved
from vision.utils.box_utils import center_to_corner

NAMES = ["BACKGROUND", "big", "tiny"]
# Three priors (center form): the top-left quarter, the bottom-right quarter, the whole image.
PRIORS = torch.tensor([[0.25, 0.25, 0.5, 0.5], [0.75, 0.75, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0]])


def hand_made_boxes() -> Boxes:
    """Five boxes in three images, with IoUs worked out by hand in the test."""
    boxes = torch.tensor([
        [0.0, 0.0, 0.5, 0.5],  # image 0, big: IoU 1 with prior 0
        [0.5, 0.5, 1.0, 0.9],  # image 0, big: IoU 0.2 / 0.25 = 0.8 with prior 1
        [0.1, 0.1, 0.2, 0.2],  # image 1, tiny: IoU 0.01 / 0.25 = 0.04 with prior 0, nothing better
        [0.0, 0.0, 1.0, 1.0],  # image 2, big: IoU 1 with prior 2
        [0.0, 0.0, 1.0, 0.8],  # image 2, tiny: IoU 0.8 with prior 2, which the box above takes
    ])
    areas = torch.tensor([100.0, 2000.0, 5000.0, 20000.0, 16000.0])  # small, medium, medium, large, large
    return Boxes(boxes, torch.tensor([1, 1, 2, 1, 2]), torch.tensor([0, 0, 1, 2, 2]), areas)


def test_coverage_and_positives_of_a_hand_made_case():
    result = measure(hand_made_boxes(), PRIORS, NAMES, resolution=100)
    assert torch.allclose(result.best_iou, torch.tensor([1.0, 0.8, 0.04, 1.0, 0.8]))
    # The last box is covered (IoU 0.8) but its prior goes to the box it overlaps more, as in training.
    assert result.positives.tolist() == [1, 1, 0, 1, 0]
    assert result.summary() == (5, pytest.approx(0.8), pytest.approx(0.6))
    assert result.by_class() == [("big", 3, 1.0, 1.0), ("tiny", 2, 0.5, 0.0)]
    assert result.size_class.tolist() == [0, 1, 1, 2, 2]
    assert "all                  small         1   100.0%       1.00" in full_report(result)
    assert "tiny                 medium        1     0.0%       0.00" in full_report(result)


def test_chunks_of_whole_images_give_the_same_numbers(monkeypatch):
    whole = measure(hand_made_boxes(), PRIORS, NAMES, resolution=100)
    monkeypatch.setattr(coverage, "_CHUNK_ELEMENTS", 1)  # one image per chunk at least
    chunked = measure(hand_made_boxes(), PRIORS, NAMES, resolution=100)
    assert torch.equal(whole.best_iou, chunked.best_iou) and torch.equal(whole.positives, chunked.positives)


def test_a_sample_takes_whole_images_up_to_the_limit_and_is_repeatable():
    boxes = hand_made_boxes()
    assert sample_images(boxes, 5) is boxes
    sample = sample_images(boxes, 3)
    assert 1 <= len(sample) <= 3
    for image in sample.image.unique():  # every box of a taken image, in the dataset's order
        assert torch.equal(sample.boxes[sample.image == image], boxes.boxes[boxes.image == image])
    assert torch.equal(sample_images(boxes, 3).boxes, sample.boxes)
    assert len(sample_images(boxes, 1)) >= 1  # an image over the limit is still measured


def test_a_mostly_uncovered_class_is_named_with_what_would_cover_it():
    result = measure(hand_made_boxes(), PRIORS, NAMES, resolution=100)
    assert uncovered_warning(result, finest_stride=16) is None  # half of "tiny" is covered: not under half
    boxes = hand_made_boxes()
    boxes.boxes[4] = torch.tensor([0.3, 0.3, 0.4, 0.4])  # like the other tiny box: IoU 0.04 at best
    warning = uncovered_warning(measure(boxes, PRIORS, NAMES, resolution=100), finest_stride=16)
    assert "tiny (0% of 2)" in warning and "big" not in warning and "--fit-priors" in warning
    # The missed boxes are 10 px; 44 px (2.72 strides of 16) needs 4.4 times the resolution, in steps of 32.
    assert "their median missed box is 10 px" in warning and "--resolution (about 448" in warning
    fitted = uncovered_warning(measure(boxes, PRIORS, NAMES, resolution=100), finest_stride=16, suggest_fit=False)
    assert "--fit-priors" not in fitted and "try a higher --resolution" in fitted


def test_a_long_list_of_uncovered_classes_is_cut_after_the_largest(monkeypatch):
    monkeypatch.setattr(coverage, "NAMED_CLASSES", 1)
    boxes = hand_made_boxes()
    missed = Boxes(boxes.boxes * 0.1, boxes.labels, boxes.image, boxes.areas)  # every box 10 times smaller
    warning = uncovered_warning(measure(missed, PRIORS, NAMES, resolution=100), finest_stride=16)
    assert "big (0% of 3) and 1 more classes" in warning and "tiny" not in warning


def test_dataset_boxes_are_the_targets_training_reads(tmp_path):
    dataset = open_dataset(generate(tmp_path, train_count=6, val_count=1, image_size=96), "train")
    boxes = dataset_boxes(dataset)
    expected = [dataset.target(index)["boxes"] / 96 for index in range(len(dataset))]
    assert torch.allclose(boxes.boxes, torch.cat(expected))
    assert boxes.image.tolist() == [index for index, rows in enumerate(expected) for _ in rows]
    sides = boxes.boxes[:, 2:] - boxes.boxes[:, :2]
    assert torch.allclose(boxes.areas, sides[:, 0] * sides[:, 1] * 96 * 96)


@pytest.fixture(scope="module")
def small_objects(tmp_path_factory):
    """Objects of 26 to 47 pixels at 128: under the sizes the priors at 128 were made for."""
    root = generate(tmp_path_factory.mktemp("small"), train_count=24, val_count=4, image_size=128,
                    object_sizes=(60, 110))
    return open_dataset(root, "train")


def test_fitted_priors_cover_small_objects_the_defaults_miss(small_objects):
    net = create_net("mb3-small-ssd-lite", len(small_objects.class_names), 128)
    boxes = dataset_boxes(small_objects)
    own = measure(boxes, net.priors, small_objects.class_names, 128).summary()[1]
    specs = fit_specs(net.specs, boxes.boxes, 128)
    fitted = measure(boxes, generate_priors(specs, 128), small_objects.class_names, 128).summary()[1]
    assert own < 0.5 and fitted > 0.9
    # The head layout is kept: a net with the fitted priors has the same state_dict.
    refitted = create_net("mb3-small-ssd-lite", len(small_objects.class_names), 128, specs=specs)
    assert [(k, v.shape) for k, v in refitted.state_dict().items()] == \
           [(k, v.shape) for k, v in net.state_dict().items()]
    assert refitted.priors.shape == net.priors.shape and not torch.equal(refitted.priors, net.priors)


def test_fitting_never_covers_fewer_boxes_than_the_net_own_priors(tmp_path):
    dataset = open_dataset(generate(tmp_path, train_count=12, val_count=1, image_size=96), "train")
    net = create_net("mb1-ssd-lite", len(dataset.class_names), 300)
    boxes = dataset_boxes(dataset)
    specs = fit_specs(net.specs, boxes.boxes, 300)
    own = measure(boxes, net.priors, dataset.class_names, 300)
    fitted = measure(boxes, generate_priors(specs, 300), dataset.class_names, 300)
    assert fitted.covered.sum() >= own.covered.sum()


def test_boxes_the_net_own_priors_cover_keep_them():
    """Positives alone never move a level: big priors at fine feature maps would give large boxes dozens."""
    net = create_net("mb1-ssd", 3)
    boxes = center_to_corner(net.priors[::97])  # boxes that are priors of the net
    assert fit_specs(net.specs, boxes, 300) == net.specs


def test_prior_specs_round_trip_and_a_wrong_layout_is_refused():
    net = create_net("mb1-ssd", 3)
    assert specs_from_saved(specs_to_saved(net.specs)) == net.specs
    with pytest.raises(NetError, match="prior_specs"):
        specs_from_saved([{"min_size": 3}])
    with pytest.raises(NetError, match="anchors per location"):
        create_net("mb1-ssd-lite", 3, specs=create_net("vgg16-ssd", 3).specs)


def test_the_command_line_reports_the_net_priors_and_fitted_ones(small_objects, capsys):
    assert coverage.main(["--data", str(small_objects.annotation_file.parents[1]), "--net",
                          "mb3-small-ssd-lite", "--resolution", "128"]) == 0
    out = capsys.readouterr().out
    assert "mb3-small-ssd-lite at 128x128, the net's priors:" in out
    assert "warning: classes mostly uncovered by the priors" in out
    assert "with fitted priors (train_ssd.py --fit-priors): min sizes" in out


def test_the_command_line_measures_a_sample_when_asked(small_objects, capsys):
    assert coverage.main(["--data", str(small_objects.annotation_file.parents[1]), "--net",
                          "mb3-small-ssd-lite", "--resolution", "128", "--max-boxes", "10"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "boxes of whole images sampled from" in first
    assert int(first.split("(")[1].split()[0]) <= 10
    with pytest.raises(SystemExit) as stopped:
        coverage.main(["--data", str(small_objects.annotation_file.parents[1]), "--max-boxes", "0"])
    assert stopped.value.code == 2
    assert "--max-boxes must be positive, got 0" in capsys.readouterr().err


def test_torchvision_nets_get_the_report_without_fitted_priors(small_objects, capsys):
    assert coverage.main(["--data", str(small_objects.annotation_file.parents[1]), "--net",
                          "ssdlite320-mb3-large", "--resolution", "128"]) == 0
    out = capsys.readouterr().out
    assert "ssdlite320-mb3-large at 128x128, the net's priors:" in out
    assert "fitted" not in out and "--fit-priors" not in out


def test_the_command_line_gives_one_line_errors(tmp_path, capsys):
    assert coverage.main(["--data", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing" in err[0]
