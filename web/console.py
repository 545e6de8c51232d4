"""The maintainer console (placeholder until it lands)."""

from fastapi import APIRouter

router = APIRouter()
