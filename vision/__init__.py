"""SSD-MobileNet training toolkit: models, data, training, evaluation and ONNX export."""
