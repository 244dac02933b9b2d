"""API of the calls app: a company's own consultations and applications (session or API token)."""

from ninja import Router

from medbroker.calls.api.applications import router as applications_router
from medbroker.calls.api.consultations import router as consultations_router

router = Router()
router.add_router("/consultations", consultations_router)
router.add_router("/applications", applications_router)
