"""eval_ssd.py on torchvision's COCO SSDlite (random weights in torch.hub's cache): its 91-slot labels
map onto a COCO annotation file by name, with torchvision's post-processing and resize."""
import torch
from torchvision.models.detection import ssdlite320_mobilenet_v3_large

from eval_helpers import load_json, mini_coco
from model_helpers import randomized
from vision.commands.eval import main
from vision.ssd import weights

SSDLITE = "ssdlite320-mb3-large"
TORCHVISION_POSTPROCESSING = ["--nms-iou", "0.55", "--score-threshold", "0.001", "--top-k", "300",
                              "--candidates-per-class", "300"]


def test_torchvisions_coco_model_evaluates_on_a_coco_dataset(coco128, tmp_path, monkeypatch, capsys, caplog):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    model = randomized(ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None))
    torch.save(model.state_dict(), checkpoints / weights.TORCHVISION_COCO[SSDLITE].url.rsplit("/", 1)[1])
    coco = mini_coco(tmp_path / "coco", coco128, 2)
    runs = {}
    for resize in ("antialias", "torchvision"):
        output = tmp_path / resize
        code = main(["--trained_model", "torchvision", "--net", SSDLITE, "--dataset", str(coco), "--resize", resize,
                     *TORCHVISION_POSTPROCESSING, "--output-dir", str(output), "--workers", "0", "--device", "cpu",
                     "--images", "0"])
        assert code == 0, capsys.readouterr().err
        runs[resize] = load_json(output / "detections.json")
    coco_ids = {category["id"] for category in load_json(coco / "annotations" / "instances_val2017.json")["categories"]}
    for detections in runs.values():
        assert detections and {detection["category_id"] for detection in detections} <= coco_ids
        assert len(detections) <= 2 * 300
    assert runs["antialias"] != runs["torchvision"]
    assert "N/A" not in caplog.text  # torchvision's unused slots are no classes the data lacks


def test_torchvision_model_needs_its_net(capsys):
    assert main(["--trained_model", "torchvision", "--dataset", "."]) == 2
    assert "--trained_model torchvision needs --net" in capsys.readouterr().err
