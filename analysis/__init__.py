"""Synchronous analysis core: faces, tracking, signals, aggregation and the observation store.

No asyncio here. Importing `analysis`, `analysis.records`, `analysis.store` or
`analysis.aggregate` must not import TensorFlow, OpenCV or aiortc (reports depend on them);
the heavy modules (`analysis.detect`, `analysis.pipeline`, `analysis.media`) import lazily.
"""
