"""train_ssd.py --fit-priors and the start-up coverage report: fitted priors go through the checkpoint to
resume, load_model (eval_ssd.py, run_ssd_example.py, onnx_export.py) and the ONNX graph."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

import train_ssd
from vision.datasets.synthetic import generate
from vision.commands.eval import main as eval_main
from vision.export.onnx_detector import OnnxModel, net_input
from vision.export.onnx_export import synthetic_image
from vision.ssd import create_net
from vision.ssd.loading import load_model
from vision.ssd.priors import generate_priors, specs_from_saved
from vision.training import checkpoint as ckpt
from vision.training import model as training_model

REPO = Path(__file__).resolve().parents[2]
NET, RESOLUTION = "mb3-small-ssd-lite", 128


@pytest.fixture(scope="module")
def small_shapes(tmp_path_factory):
    """Objects of 26 to 47 pixels at 128: under half of them have a prior of the net's at IoU 0.5."""
    return generate(tmp_path_factory.mktemp("small"), train_count=24, val_count=4, image_size=RESOLUTION,
                    object_sizes=(60, 110))


def options(data, model_dir, *extra):
    return ["--data", str(data), "--model-dir", str(model_dir), "--net", NET, "--no-pretrained", "--resolution",
            str(RESOLUTION), "--batch-size", "4", "--max-steps-per-epoch", "2", "--workers", "0", "--epochs", "1",
            *extra]


@pytest.fixture(scope="module")
def fitted_run(small_shapes, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("fitted")
    assert train_ssd.main(options(small_shapes, model_dir, "--fit-priors")) == 0
    return model_dir


def saved_specs(path):
    return specs_from_saved(torch.load(path, weights_only=True)["prior_specs"])


def test_fitted_priors_are_logged_and_kept_in_the_checkpoint(fitted_run):
    specs = saved_specs(fitted_run / ckpt.LAST)
    own = create_net(NET, 6, RESOLUTION).specs
    assert [spec.min_size for spec in specs] != [spec.min_size for spec in own]
    assert [spec.anchors_per_location for spec in specs] == [spec.anchors_per_location for spec in own]
    log = (fitted_run / "train.log").read_text()
    assert "fitted priors: min sizes" in log and "prior coverage at 128x128" in log
    assert "mostly uncovered" not in log


def test_the_net_own_priors_warn_naming_the_uncovered_classes(small_shapes, tmp_path):
    assert train_ssd.main(options(small_shapes, tmp_path, "--max-steps-per-epoch", "1", "--no-fit-priors")) == 0
    warning = [line for line in (tmp_path / "train.log").read_text().splitlines() if "mostly uncovered" in line]
    assert len(warning) == 1 and "WARNING" in warning[0]
    assert "circle (" in warning[0] and "--fit-priors" in warning[0]
    epoch_file = torch.load(ckpt.epoch_files(tmp_path)[0][0], weights_only=True)
    assert all(isinstance(value, torch.Tensor) for value in epoch_file.values())  # the earlier tools' format


def test_the_start_up_report_measures_a_sample_of_a_large_dataset(small_shapes, tmp_path, monkeypatch):
    monkeypatch.setattr(training_model, "START_UP_BOXES", 10)
    assert train_ssd.main(options(small_shapes, tmp_path, "--max-steps-per-epoch", "1")) == 0
    line = next(line for line in (tmp_path / "train.log").read_text().splitlines() if "prior coverage" in line)
    count = int(line.split(" boxes (whole images sampled from ")[0].split()[-1])
    assert 1 <= count <= 10


def test_epoch_files_of_a_fitted_run_build_the_net_with_its_priors(fitted_run):
    """run_ssd_example.py and the Jetson tutorials take these files: they must not decode with other priors."""
    path = ckpt.epoch_files(fitted_run)[0][0]
    net, names = load_model(str(path))
    assert torch.equal(net.priors, generate_priors(saved_specs(fitted_run / ckpt.LAST), RESOLUTION))
    assert names == (fitted_run / "labels.txt").read_text().splitlines()


def test_resuming_from_an_epoch_file_keeps_its_priors(fitted_run, small_shapes, tmp_path, monkeypatch):
    path = ckpt.epoch_files(fitted_run)[0][0]
    (tmp_path / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(training_model, "fit_specs", refit_refused)
    assert train_ssd.main(["--resume", "auto", *options(small_shapes, tmp_path)]) == 0
    assert saved_specs(tmp_path / ckpt.LAST) == saved_specs(fitted_run / ckpt.LAST)


def refit_refused(*args, **kwargs):
    raise AssertionError("a resumed run fitted its priors again")


def test_resume_keeps_the_checkpoint_priors(fitted_run, tmp_path, monkeypatch):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / ckpt.LAST).write_bytes((fitted_run / ckpt.LAST).read_bytes())
    monkeypatch.setattr(training_model, "fit_specs", refit_refused)
    assert train_ssd.main(["--resume", "auto", "--model-dir", str(model_dir), "--epochs", "2"]) == 0
    assert saved_specs(model_dir / ckpt.LAST) == saved_specs(fitted_run / ckpt.LAST)
    assert torch.load(model_dir / ckpt.LAST, weights_only=True)["epoch"] == 2


def test_fine_tuning_from_a_fitted_checkpoint_starts_from_its_priors(fitted_run, small_shapes, tmp_path):
    """Its heads learned offsets from the fitted priors; the net's own would make them predict wrong boxes."""
    pretrained = str(fitted_run / ckpt.LAST)
    assert train_ssd.main(options(small_shapes, tmp_path, "--pretrained-ssd", pretrained)) == 0
    assert saved_specs(tmp_path / ckpt.LAST) == saved_specs(fitted_run / ckpt.LAST)
    assert f"priors of {pretrained} (fitted to its training boxes)" in (tmp_path / "train.log").read_text()


def test_fine_tuning_at_another_resolution_takes_the_net_own_priors(fitted_run, small_shapes, tmp_path):
    pretrained = str(fitted_run / ckpt.LAST)
    arguments = options(small_shapes, tmp_path, "--pretrained-ssd", pretrained, "--resolution", "160")
    assert train_ssd.main(arguments) == 0
    assert saved_specs(tmp_path / ckpt.LAST) == create_net(NET, 6, 160).specs
    assert "its priors were fitted at 128x128: training at 160x160" in (tmp_path / "train.log").read_text()


def test_fit_priors_cannot_be_switched_on_when_resuming(small_shapes, tmp_path, capsys):
    assert train_ssd.main(options(small_shapes, tmp_path, "--max-steps-per-epoch", "1", "--no-fit-priors")) == 0
    capsys.readouterr()
    assert train_ssd.main(["--resume", "auto", "--model-dir", str(tmp_path), "--fit-priors"]) == 2
    assert "--fit-priors cannot change on resume" in capsys.readouterr().err


def test_torchvision_nets_refuse_fit_priors(small_shapes, tmp_path, capsys):
    assert train_ssd.main(["--data", str(small_shapes), "--model-dir", str(tmp_path), "--net",
                           "ssdlite320-mb3-large", "--fit-priors"]) == 2
    assert "--fit-priors: ssdlite320-mb3-large keeps torchvision's default boxes" in capsys.readouterr().err


def test_load_model_builds_the_net_with_the_fitted_priors(fitted_run):
    net, _ = load_model(str(fitted_run / ckpt.BEST))
    assert torch.equal(net.priors, generate_priors(saved_specs(fitted_run / ckpt.BEST), RESOLUTION))
    assert not torch.equal(net.priors, create_net(NET, 6, RESOLUTION).priors)


def test_eval_ssd_decodes_with_the_fitted_priors(fitted_run, small_shapes, tmp_path):
    """The same weights evaluated with and without the saved prior_specs give other boxes."""
    checkpoint = torch.load(fitted_run / ckpt.BEST, weights_only=True)
    checkpoint["prior_specs"] = None  # the net's own priors
    torch.save(checkpoint, tmp_path / "own.pth")
    boxes = {}
    for name, path in [("fitted", fitted_run / ckpt.BEST), ("own", tmp_path / "own.pth")]:
        assert eval_main(["--trained_model", str(path), "--dataset", str(small_shapes), "--output-dir",
                          str(tmp_path / name), "--workers", "0", "--device", "cpu", "--images", "0"]) == 0
        detections = (tmp_path / name / "detections.json").read_text()
        boxes[name] = detections
    assert boxes["fitted"] != boxes["own"]


def test_the_onnx_graph_holds_the_fitted_priors(fitted_run, tmp_path):
    spec = importlib.util.spec_from_file_location("onnx_export_script", REPO / "onnx_export.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    output = tmp_path / "model.onnx"
    assert script.main(["--model-dir", str(fitted_run), "--output", str(output)]) == 0
    net, _ = load_model(str(fitted_run / ckpt.BEST))
    inputs = net_input(synthetic_image(), RESOLUTION, net.mean, net.std)
    with torch.no_grad():
        _, expected = net(inputs)
        own = create_net(NET, 6, RESOLUTION, is_test=True).eval()
        own.load_state_dict(net.state_dict())
        _, own_boxes = own(inputs)
    _, boxes = OnnxModel(str(output))(inputs)
    np.testing.assert_allclose(boxes.numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(boxes, own_boxes, atol=1e-3)
