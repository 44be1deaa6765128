"""ASGI entry point for uvicorn workers: `uvicorn portal.asgi:app`."""

from portal.app import create_app
from portal.settings import from_environment

app = create_app(from_environment())
