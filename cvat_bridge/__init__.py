"""cvat-bridge: CVAT tags and zipped folder trees in, trained image classifiers (back in CVAT) out."""

__version__ = "0.1.0"
