"""Staff accounts and the units they belong to."""

from __future__ import annotations

from cases.auth.passwords import PasswordPool, hash_password
from cases.errors import ValidationError
from cases.store.models import Department, Role, StaffUser
from cases.text import without_format_chars
from config.catalog import Catalog

MIN_PASSWORD_CHARS = 10


async def sync_departments(catalog: Catalog) -> int:
    """Create or update the units named in the catalogue; returns how many were created."""
    created = 0
    for dept in catalog.departments.values():
        _, was_created = await Department.update_or_create(
            defaults={"name": dept.name, "role": dept.role, "active": True}, code=dept.code
        )
        created += int(was_created)
    return created


async def list_departments() -> list[Department]:
    """Every unit, in the order they were created."""
    return await Department.all().order_by("id")


async def list_staff() -> list[StaffUser]:
    """Every staff account, disabled ones included, by username, each with its unit loaded."""
    return await StaffUser.all().order_by("username").prefetch_related("department")


async def staff_by_id(user_id: int) -> StaffUser | None:
    """The account with this id, disabled or not; None if there is none."""
    return await StaffUser.get_or_none(id=user_id)


async def create_staff(
    username: str,
    password: str,
    role: str,
    department_code: str = "",
    display_name: str = "",
    *,
    passwords: PasswordPool | None = None,
) -> StaffUser:
    """Create a staff account; a handler must belong to a handling unit. In the server, pass
    the app's `passwords` pool so hashing stays off the event loop (the CLI may hash inline)."""
    username = username.strip()
    if not username or len(username) > 64:
        raise ValidationError("username must be 1-64 characters", field="username")
    if without_format_chars(username) != username:
        # An invisible character would make a second "admin" that looks like the first.
        raise ValidationError("username must not contain invisible characters", field="username")
    if await StaffUser.exists(username=username):
        raise ValidationError(f"username {username!r} is taken", field="username")
    if role not in {r.value for r in Role}:
        raise ValidationError(
            f"role must be one of {', '.join(r.value for r in Role)}", field="role"
        )
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValidationError(
            f"password must have at least {MIN_PASSWORD_CHARS} characters", field="password"
        )
    department = None
    if department_code:
        department = await Department.get_or_none(code=department_code)
        if department is None:
            raise ValidationError(f"unknown department {department_code!r}", field="department")
    if role == Role.HANDLER and (department is None or department.role != "handling"):
        raise ValidationError("a handler needs a handling department", field="department")
    hashed = await passwords.hash(password) if passwords else hash_password(password)
    return await StaffUser.create(
        username=username,
        display_name=without_format_chars(display_name.strip()) or username,
        password_hash=hashed,
        role=Role(role),
        department=department,
    )
