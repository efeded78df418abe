"""State keys of the mini-program API."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from cases.store.models import Citizen

OPENAPI = web.AppKey("mp_openapi", dict)
# The signed-in citizen of a request (set by the sign-in middleware).
CITIZEN: web.RequestKey[Citizen] = web.RequestKey("mp_citizen", Citizen)
JSON = dict[str, Any]
