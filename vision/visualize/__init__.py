"""Pictures of data and detections.

draw      boxes and their labels drawn on images: run_ssd_example.py's detections, eval_ssd.py --images,
          and the sample grid
annotate  run_ssd_example.py's annotated copies of images and videos: what is written where, and the writing
show      python3 -m vision.visualize.show: a grid of dataset samples as the net sees them
"""
