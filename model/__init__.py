"""The contract between training and inference: labels, preprocessing, architectures, save/load.

Importing this package is cheap: TensorFlow is only imported by `model.architectures`,
`model.bundle` and `model.classifier`, which the caller imports explicitly.
"""

from model.labels import LABELS, NUM_CLASSES

__all__ = ["LABELS", "NUM_CLASSES"]
