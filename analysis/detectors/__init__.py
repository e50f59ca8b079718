"""Face detector backends and the small models around them.

Each module wraps one model behind `analysis.detect.FaceDetector` (or, for the face mesh, a
landmark reader). They are imported lazily by `analysis.detect.make_detector`, so importing
this package costs nothing; only the backend you build pulls in OpenCV, TensorFlow or yuface.
"""
