"""The asyncio edge of ClassPulse: CLI, configuration, demo, (later) meeting connectors and service.

The only package that may import aiohttp, aiortc or apscheduler. Nothing imports `bot`.
"""
