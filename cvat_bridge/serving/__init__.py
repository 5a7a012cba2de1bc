"""Serving trained models: their ``model.onnx`` on ONNX Runtime (the CUDA provider when there is one).

from cvat_bridge.serving import get_predictor, read_images

predictor = get_predictor(services, model_id)          # cached; model_lookup.ModelNotFound / ModelNotReady
images = read_images([("bee.jpg", data)], services.settings.max_image_pixels)   # BadImage
for prediction in predictor.predict(images, top_k=3, threshold=0.5):
    print(prediction.label, prediction.confidence, prediction.top_k)
"""

from cvat_bridge.serving.cache import get_predictor
from cvat_bridge.serving.inputs import BadImage, read_images
from cvat_bridge.serving.predictor import ClassScore, Prediction, Predictor

__all__ = [
    "BadImage",
    "ClassScore",
    "Prediction",
    "Predictor",
    "get_predictor",
    "read_images",
]
