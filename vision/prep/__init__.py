"""Data preparation: download COCO / Open Images, validate image files, fix COCO annotations.

The command-line scripts at the repository root (coco_downloader.py, validate_image_files.py,
fix_coco_annotations.py, setup_coco, open_images_downloader.py) are thin wrappers around the
functions in this package.
"""
from vision.errors import UserError


class PrepError(UserError):
    """A problem with the user's input or environment, reported as one line without a traceback.

    The message should name the file (or URL) and what is wrong with it.
    """
