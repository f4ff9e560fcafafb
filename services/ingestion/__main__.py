"""`python -m services.ingestion` runs the ingestion service."""

from services.ingestion.app import create_app
from shared.kit.running import run_service

run_service(create_app)
