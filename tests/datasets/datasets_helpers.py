"""Small dataset trees written by the tests: VOC and Open Images layouts, images of any format."""
from pathlib import Path

import cv2
import numpy as np


def write_image(path: Path, height: int = 64, width: int = 80, seed: int = 0) -> Path:
    """A random RGB image in the format the suffix names (written by OpenCV, so BGR on disk)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), pixels)
    return path


def voc_object(name: str, box, difficult: bool = False) -> str:
    xmin, ymin, xmax, ymax = box
    return (f"<object><name>{name}</name><difficult>{int(difficult)}</difficult><bndbox>"
            f"<xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax>"
            "</bndbox></object>")


def make_voc(root: Path, images: dict, lists: dict, labels: list[str] | None = None,
             size=(64, 80)) -> Path:
    """images: id -> (image file name, [object xml]); lists: split list name -> ids."""
    height, width = size
    for seed, (image_id, (file_name, objects)) in enumerate(images.items()):
        write_image(root / "JPEGImages" / file_name, height, width, seed)
        xml = (f"<annotation><filename>{file_name}</filename><path>/elsewhere/{file_name}</path>"
               f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>"
               f"{''.join(objects)}</annotation>")
        (root / "Annotations").mkdir(parents=True, exist_ok=True)
        (root / "Annotations" / f"{image_id}.xml").write_text(xml)
    (root / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    for name, ids in lists.items():
        (root / "ImageSets" / "Main" / f"{name}.txt").write_text("\n".join(ids) + "\n")
    if labels is not None:
        (root / "labels.txt").write_text("\n".join(labels) + "\n")
    return root


def make_open_images(root: Path, split: str, rows: list[tuple], size=(50, 100)) -> Path:
    """rows: (ImageID, ClassName, XMin, XMax, YMin, YMax); the image files are written too."""
    header = "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,ClassName"
    lines = [header] + [f"{image_id},xclick,/m/0,1,{x1},{x2},{y1},{y2},0,0,{name}"
                        for image_id, name, x1, x2, y1, y2 in rows]
    root.mkdir(parents=True, exist_ok=True)
    (root / f"sub-{split}-annotations-bbox.csv").write_text("\n".join(lines) + "\n")
    for seed, image_id in enumerate(sorted({row[0] for row in rows})):
        write_image(root / split / f"{image_id}.jpg", *size, seed)
    return root
