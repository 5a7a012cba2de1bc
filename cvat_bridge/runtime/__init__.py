"""The bottom layer: what a trained model needs at inference time, and nothing more (Pillow, NumPy, ONNX
Runtime). It imports nothing else of the project and uses relative imports only, so a Nuclio function folder
carries a verbatim copy of it; the trainer, the service and the function all read, preprocess and tag images
with this very code (the import contract in pyproject.toml keeps it so).

    imaging.py          read any image as RGB + the evaluation preprocessing (``Preprocessing``)
    classifier.py       the ``Classifier`` protocol, the model folder's ``model.json``, top-k
    onnx_classifier.py  ``OnnxClassifier``: ``model.onnx`` on ONNX Runtime (CUDA provider when there is one)
    tags.py             the one builder of CVAT tags (the top class, when it reaches the threshold)
"""
