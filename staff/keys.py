"""State keys of the staff console."""

from __future__ import annotations

from aiohttp import web
from jinja2 import Environment

from cases.auth.staff_auth import SignedIn

PAGES = web.AppKey("staff_pages", Environment)
# The signed-in staff member of a request (set by the session middleware).
STAFF: web.RequestKey[SignedIn] = web.RequestKey("staff_signed_in", SignedIn)
COOKIE = "cd_staff"
# Before sign-in the login form's CSRF secret travels in its own cookie (double submit).
LOGIN_CSRF_COOKIE = "cd_login_csrf"
