"""ASGI entry point for uvicorn workers: `uvicorn portal.asgi:app`."""

from portal.app import create_app
from portal.serving import settle_worker
from portal.settings import from_environment, refuse_unsafe_production

settings = from_environment()
refuse_unsafe_production(settings)
app = create_app(settings)
settle_worker()
