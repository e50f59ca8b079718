"""Reports: pure report contexts, SVG charts, Jinja2 templates and HTML/PDF rendering.

Reads stored data only (`analysis.records`, `analysis.aggregate`, the store's read methods);
importing this package never imports TensorFlow, OpenCV or aiortc, and WeasyPrint only
when a PDF is written. Entry point: `reports.render.render_session`.
"""
