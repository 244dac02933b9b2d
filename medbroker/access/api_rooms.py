"""REST endpoints of the access app."""

from ninja import Router

router = Router(tags=["access"])
