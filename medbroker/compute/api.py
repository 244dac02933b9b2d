"""REST endpoints of the compute app."""

from ninja import Router

router = Router(tags=["compute"])
