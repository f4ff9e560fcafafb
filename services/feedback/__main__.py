"""`python -m services.feedback` runs the feedback service."""

from services.feedback.app import create_app
from shared.kit.running import run_service

run_service(create_app)
