"""ASGI entry point for uvicorn workers: `uvicorn portal.asgi:app`."""

from portal.app import create_app
from portal.serving import settle_worker
from portal.settings import from_environment, refuse_unsafe_production
from portal.worker_shares import shared

settings = from_environment()
refuse_unsafe_production(settings)
app = shared(create_app(settings))  # with the other workers of `portal serve --workers N`
settle_worker()
