"""What a trained model needs at inference time, and nothing more: Pillow, NumPy, ONNX Runtime.

This package uses relative imports only, so the Nuclio function folder carries a verbatim copy of it
(serving and the function then read and preprocess images with the very same code as training).
"""
