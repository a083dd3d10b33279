"""Export to ONNX for jetson-inference's detectNet, and running the exported model.

contract       the graph's names and opsets, which checkpoint to export, stale TensorRT engines, the
               detectnet command (no torch import, so command-line mistakes are answered at once)
onnx_export    export_onnx, verify_onnx, export_verified
onnx_detector  an exported model run by onnxruntime (OnnxModel), and detections from it (OnnxDetector)
"""
