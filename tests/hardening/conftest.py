"""The hardening tests attack the real app through the same worlds as the feature tests."""

from tests.bot.conftest import bot, fake_wechat, mode  # noqa: F401
from tests.miniprogram.conftest import make_mp, mp  # noqa: F401
from tests.staff.conftest import staff_world  # noqa: F401
