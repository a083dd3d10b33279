"""From images to detections: one path for a PyTorch SSD, its ONNX export and the evaluation.

    resize     to the net's square input (vision.transforms: antialias or torchvision's), or detectNet's
               nearest-neighbour stretch
    normalize  (px - mean) / std with the net registry's mean/std (vision.ssd.ssd.normalize), or
               detectNet's (px/255 - 0.5)/0.5
    forward    a PyTorch SSD, or an exported .onnx file run by onnxruntime: scores, corner boxes
    select     per-class NMS among each class's best candidates, or detectNet's clustering

detections  Detections and select_detections (per-class NMS)
detectnet   what jetson-inference's detectNet does around an exported SSD (eval_ssd.py --jetson)
onnx_model  OnnxModel: an export of onnx_export.py run by onnxruntime
pipeline    Pipeline (the four steps), Predictor (a PyTorch SSD) and OnnxDetector (an export) for
            images in memory; vision.evaluation runs the same Pipeline over a dataset
"""
