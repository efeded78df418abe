"""Application state keys, declared in one place."""

from __future__ import annotations

from aiohttp import web

from cases.rules import Rules
from config.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
RULES = web.AppKey("rules", Rules)
