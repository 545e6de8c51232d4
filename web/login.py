"""The web login and logout pages (placeholder until accounts lands)."""

from fastapi import APIRouter

router = APIRouter()
