"""Logins, tokens and the current user for the API (placeholder until accounts lands)."""

from fastapi import APIRouter

router = APIRouter()
