"""What a training run reads: a VOC tree with only default.txt holds out every tenth image."""
import cv2
import numpy as np

from vision.training.data import build_datasets
from vision.training.options import parse_args, settings


def voc_with_only_default_list(root, count):
    for folder in ("Annotations", "ImageSets/Main", "JPEGImages"):
        (root / folder).mkdir(parents=True)
    names = [f"img{index:02d}" for index in range(count)]
    for name in names:
        cv2.imwrite(str(root / "JPEGImages" / f"{name}.jpg"), np.full((32, 32, 3), 128, np.uint8))
        (root / "Annotations" / f"{name}.xml").write_text(
            f"<annotation><filename>{name}.jpg</filename><size><width>32</width><height>32</height></size>"
            "<object><name>cat</name><difficult>0</difficult><bndbox><xmin>4</xmin><ymin>4</ymin>"
            "<xmax>20</xmax><ymax>20</ymax></bndbox></object></annotation>")
    (root / "ImageSets/Main/default.txt").write_text("\n".join(names) + "\n")
    return root


def test_a_voc_tree_with_only_default_txt_holds_out_every_tenth_image(tmp_path):
    root = voc_with_only_default_list(tmp_path / "voc", 25)
    args, given = parse_args(["--data", str(root)])
    train, validation, class_names = build_datasets(settings(args, given, None).data)
    assert class_names == ["BACKGROUND", "cat"]
    assert (len(train), len(validation)) == (23, 2)
    val_files = [validation.image_path(index).name for index in range(len(validation))]
    assert val_files == ["img09.jpg", "img19.jpg"]
    assert not set(val_files) & {train.image_path(index).name for index in range(len(train))}
