"""Export to ONNX for jetson-inference's detectNet, and checking the export against the net.

contract       the graph's names and opsets, which checkpoint to export, stale TensorRT engines, the
               detectnet command (no torch import, so command-line mistakes are answered at once)
onnx_export    export_onnx, verify_onnx, export_verified

An exported model is run by vision.inference (OnnxModel, and OnnxDetector for its detections).
"""
