"""Data preparation: download COCO / Open Images, validate image files, fix COCO annotations.

Their command lines (vision/commands/: coco_download, validate_images, fix_coco, setup_coco,
open_images_download; the scripts coco_downloader.py, validate_image_files.py, fix_coco_annotations.py,
setup_coco and open_images_downloader.py at the repository root run them) call the functions in this package.
"""
from vision.errors import UserError


class PrepError(UserError):
    """A problem with the user's input or environment, reported as one line without a traceback.

    The message should name the file (or URL) and what is wrong with it.
    """
