"""Masking of personal data for lists, exports and handling units."""

from __future__ import annotations


def mask_phone(phone: str) -> str:
    """Keep the first 3 and last 4 digits of a mobile, the area code and last 4 of a landline.

    >>> mask_phone("13812345678")
    '138****5678'
    >>> mask_phone("010-62345678")
    '010-****5678'
    """
    if not phone:
        return ""
    if "-" in phone:
        area, _, local = phone.partition("-")
        return f"{area}-{'*' * max(len(local) - 4, 0)}{local[-4:]}"
    if len(phone) <= 4:
        return "*" * len(phone)
    head = 3 if len(phone) >= 11 else 0
    return phone[:head] + "*" * (len(phone) - head - 4) + phone[-4:]


def mask_name(name: str) -> str:
    """Surname only, as complaint publication rules do: 张三丰 → 张**."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)
