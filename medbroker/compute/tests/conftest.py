"""Fixtures of the compute tests: the stand-in hubs (``fakehub.py``)."""

from medbroker.compute.tests.fakehub import fake_hub, silent_hub

__all__ = ["fake_hub", "silent_hub"]
