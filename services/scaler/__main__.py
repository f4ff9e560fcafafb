"""`python -m services.scaler` runs the scaler service."""

from services.scaler.app import create_app
from shared.kit.running import run_service

run_service(create_app)
