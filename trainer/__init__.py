"""Fine-tuning image classifiers: catalogue, weights, data, training loop, metrics, ONNX export, artifacts.

Knows nothing of the database or the API: `cvat_bridge.training` feeds it a collection's samples and a
model folder, and records what it returns.
"""
