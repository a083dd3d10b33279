"""Fine-tuning torchvision's SSDlite on coco128 (80 classes) with train_ssd.py, from a saved torchvision
state_dict (91 COCO slots): heads first, then the whole net."""
import torch
from torchvision.models.detection import ssdlite320_mobilenet_v3_large

import train_ssd
from vision.training import checkpoint as ckpt


def finetune(data, model_dir, pretrained, *extra):
    return train_ssd.main(["--data", str(data), "--model-dir", str(model_dir), "--net", "ssdlite320-mb3-large",
                           "--pretrained-ssd", str(pretrained), "--resolution", "160", "--batch-size", "2",
                           "--epochs", "1", "--max-steps-per-epoch", "2", "--workers", "0", "--seed", "7",
                           "--data-augmentation", "ssdlite", *extra])


def test_two_step_finetune_from_a_torchvision_state_dict(coco128, tmp_path):
    torchvision_file = tmp_path / "ssdlite.pth"
    source = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None).state_dict()
    torch.save(source, torchvision_file)
    assert finetune(coco128, tmp_path / "heads", torchvision_file, "--freeze-net") == 0
    heads = torch.load(tmp_path / "heads" / ckpt.LAST, weights_only=True)
    assert heads["net"] == "ssdlite320-mb3-large" and heads["resolution"] == 160 and len(heads["labels"]) == 81
    frozen = "backbone.features.0.0.0.weight"
    assert torch.equal(heads["model"][frozen], source[frozen])  # --freeze-net: only the heads trained
    head = "head.classification_head.module_list.0.1.weight"
    assert heads["model"][head].shape[0] == 81 * 6 and not ckpt.non_finite_keys(heads["model"])

    assert finetune(coco128, tmp_path / "all", tmp_path / "heads" / ckpt.LAST) == 0
    tuned = torch.load(tmp_path / "all" / ckpt.LAST, weights_only=True)
    assert not torch.equal(tuned["model"][frozen], source[frozen])
    assert not ckpt.non_finite_keys(tuned["model"])
