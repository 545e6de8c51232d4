"""Uploads, change sets, versions and exports (placeholder until stewardship lands)."""

from fastapi import APIRouter

router = APIRouter()
