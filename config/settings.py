"""Typed, validated, frozen settings: config/default.toml < --config file < environment."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULT_FILE = CONFIG_DIR / "default.toml"
DEMO_FILE = CONFIG_DIR / "demo.toml"
ENV_PREFIX = "COMPLAINT_DESK_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"

# Shipped in config/demo.toml: refused outside demo mode so nobody runs production on them.
DEMO_SECRETS = frozenset({"demo-oa-secret", "demo-mp-secret", "demo-token"})


class ConfigError(Exception):
    """Invalid configuration: one line naming the key and the problem."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"configuration error: {key}: {problem}")
        self.key = key


class Secret(str):
    """A string whose repr never shows its value."""

    def __repr__(self) -> str:
        return "Secret('***')" if self else "Secret('')"


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int


@dataclass(frozen=True)
class WeChatAppSettings:
    appid: str
    secret: Secret
    token: Secret
    aes_key: Secret
    # Refuse plain-mode pushes: their signature does not cover the body (research B.1, W3).
    require_safe_mode: bool = False


@dataclass(frozen=True)
class WeChatSettings:
    api_base: str
    timeout_seconds: float
    oa: WeChatAppSettings
    mp: WeChatAppSettings


@dataclass(frozen=True)
class StaffSettings:
    session_hours: float
    free_failures: int
    backoff_seconds: float
    account_backoff_max_seconds: float
    address_backoff_max_seconds: float
    forget_minutes: float
    address_concurrent_checks: int
    password_threads: int
    password_queue_limit: int
    secure_cookies: bool


@dataclass(frozen=True)
class MiniProgramSettings:
    session_hours: float
    cases_per_day: int
    uploads_per_hour: int
    public_url: str


@dataclass(frozen=True)
class RetentionSettings:
    closed_case_years: int
    unattached_upload_hours: float


@dataclass(frozen=True)
class WorkerSettings:
    in_process: bool
    sweep_interval_seconds: float
    notice_interval_seconds: float


@dataclass(frozen=True)
class Settings:
    server: ServerSettings
    database_url: str
    data_dir: Path
    media_dir: Path
    profile: str
    timezone: ZoneInfo
    holidays_file: Path | None
    wechat: WeChatSettings
    worker: WorkerSettings
    notices_file: Path | None
    redis_url: str
    miniprogram: MiniProgramSettings
    staff: StaffSettings
    demo: bool
    retention: RetentionSettings

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite://")


def load_settings(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    demo: bool = False,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read settings from the defaults, the demo layer, a file, the environment and overrides.

    `overrides` uses dotted keys ("database.url") and wins over everything; tests use it.
    Raises ConfigError with the offending key on any invalid value.
    """
    env = os.environ if env is None else env
    raw = _read_toml(DEFAULT_FILE)
    if demo:
        _merge(raw, _read_toml(DEMO_FILE), "")
    path = path or env.get(CONFIG_ENV) or None
    if path:
        _merge(raw, _read_toml(Path(path)), "")
    _apply_env(raw, env, "")
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    return _build(raw)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError("--config", f"file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML ({exc})") from None


def _merge(base: dict[str, Any], extra: Mapping[str, Any], prefix: str) -> None:
    for key, value in extra.items():
        dotted = f"{prefix}{key}"
        if key not in base:
            raise ConfigError(dotted, "unknown key")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(dotted, "must be a table")
            _merge(base[key], value, dotted + ".")
        else:
            base[key] = value


def _apply_env(base: dict[str, Any], env: Mapping[str, str], prefix: str) -> None:
    """Override each leaf key from COMPLAINT_DESK_<PATH>, converting to the default's type."""
    for key, value in base.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            _apply_env(value, env, dotted + ".")
            continue
        name = ENV_PREFIX + dotted.replace(".", "_").upper()
        if name in env:
            base[key] = _coerce(env[name], value, name)


def _coerce(text: str, default: Any, name: str) -> Any:
    if isinstance(default, bool):
        if text.lower() in {"1", "true", "yes", "on"}:
            return True
        if text.lower() in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(name, f"expected true or false, got {text!r}")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise ConfigError(name, f"expected an integer, got {text!r}") from None
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise ConfigError(name, f"expected a number, got {text!r}") from None
    return text


def _set_dotted(base: dict[str, Any], dotted: str, value: Any) -> None:
    node = base
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node[part]
    if leaf not in node:
        raise ConfigError(dotted, "unknown key")
    node[leaf] = value


def _expect(raw: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    section, _, leaf = key.rpartition(".")
    node: Any = raw
    for part in section.split(".") if section else []:
        node = node[part]
    value = node[leaf]
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(key, f"expected {_kind_name(kind)}, got {value!r}")
    if not isinstance(value, kind):
        raise ConfigError(key, f"expected {_kind_name(kind)}, got {value!r}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _build(raw: dict[str, Any]) -> Settings:
    demo = _expect(raw, "demo.enabled", bool)
    port = _expect(raw, "server.port", int)
    if not 0 <= port <= 65535:
        raise ConfigError("server.port", f"must be between 0 and 65535, got {port}")
    data_dir = Path(_expect(raw, "storage.data_dir", str)).expanduser()
    media_dir_text = _expect(raw, "storage.media_dir", str)
    media_dir = Path(media_dir_text).expanduser() if media_dir_text else data_dir / "media"

    url = _expect(raw, "database.url", str) or f"sqlite://{data_dir / 'complaint-desk.sqlite3'}"
    scheme = urlsplit(url).scheme
    if scheme not in {"sqlite", "postgres", "postgresql", "asyncpg"}:
        raise ConfigError("database.url", f"scheme must be sqlite:// or postgres://, got {url!r}")

    tz_name = _expect(raw, "organisation.timezone", str)
    try:
        timezone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("organisation.timezone", f"unknown time zone {tz_name!r}") from None
    holidays = _expect(raw, "organisation.holidays_file", str)

    api_base = _expect(raw, "wechat.api_base", str).rstrip("/")
    if urlsplit(api_base).scheme not in {"http", "https"}:
        raise ConfigError("wechat.api_base", f"must be an http(s) URL, got {api_base!r}")
    timeout = _expect(raw, "wechat.timeout_seconds", (int, float))
    if timeout <= 0:
        raise ConfigError("wechat.timeout_seconds", "must be greater than 0")

    interval = _expect(raw, "worker.sweep_interval_seconds", (int, float))
    if interval <= 0:
        raise ConfigError("worker.sweep_interval_seconds", "must be greater than 0")
    notice_interval = _expect(raw, "worker.notice_interval_seconds", (int, float))
    if notice_interval <= 0:
        raise ConfigError("worker.notice_interval_seconds", "must be greater than 0")
    notices = _expect(raw, "notices.file", str)
    redis_url = _expect(raw, "redis.url", str)
    years = _expect(raw, "retention.closed_case_years", int)
    if years < 1:
        raise ConfigError("retention.closed_case_years", "must be at least 1")
    upload_hours = _expect(raw, "retention.unattached_upload_hours", (int, float))
    if upload_hours <= 0:
        raise ConfigError("retention.unattached_upload_hours", "must be greater than 0")
    if redis_url and urlsplit(redis_url).scheme not in {"redis", "rediss", "unix"}:
        raise ConfigError("redis.url", "must be a redis:// URL")  # no echo: it may hold a password
    return Settings(
        server=ServerSettings(host=_expect(raw, "server.host", str), port=port),
        database_url=url,
        data_dir=data_dir,
        media_dir=media_dir,
        profile=_expect(raw, "organisation.profile", str),
        timezone=timezone,
        holidays_file=Path(holidays) if holidays else None,
        wechat=WeChatSettings(
            api_base=api_base,
            timeout_seconds=float(timeout),
            oa=_build_app(raw, "oa", demo),
            mp=_build_app(raw, "mp", demo),
        ),
        worker=WorkerSettings(
            in_process=_expect(raw, "worker.in_process", bool),
            sweep_interval_seconds=float(interval),
            notice_interval_seconds=float(notice_interval),
        ),
        notices_file=Path(notices) if notices else None,
        redis_url=Secret(redis_url),
        miniprogram=_build_miniprogram(raw, demo),
        staff=_build_staff(raw),
        demo=demo,
        retention=RetentionSettings(
            closed_case_years=years, unattached_upload_hours=float(upload_hours)
        ),
    )


def _build_staff(raw: dict[str, Any]) -> StaffSettings:
    kinds: dict[str, Any] = {
        "session_hours": (int, float),
        "free_failures": int,
        "backoff_seconds": (int, float),
        "account_backoff_max_seconds": (int, float),
        "address_backoff_max_seconds": (int, float),
        "forget_minutes": (int, float),
        "address_concurrent_checks": int,
        "password_threads": int,
        "password_queue_limit": int,
    }
    numbers = {}
    for key, kind in kinds.items():
        numbers[key] = _expect(raw, f"staff.{key}", kind)
        if numbers[key] <= 0:
            raise ConfigError(f"staff.{key}", "must be greater than 0")
    return StaffSettings(
        session_hours=float(numbers["session_hours"]),
        free_failures=int(numbers["free_failures"]),
        backoff_seconds=float(numbers["backoff_seconds"]),
        account_backoff_max_seconds=float(numbers["account_backoff_max_seconds"]),
        address_backoff_max_seconds=float(numbers["address_backoff_max_seconds"]),
        forget_minutes=float(numbers["forget_minutes"]),
        address_concurrent_checks=int(numbers["address_concurrent_checks"]),
        password_threads=int(numbers["password_threads"]),
        password_queue_limit=int(numbers["password_queue_limit"]),
        secure_cookies=_expect(raw, "staff.secure_cookies", bool),
    )


def _build_miniprogram(raw: dict[str, Any], demo: bool) -> MiniProgramSettings:
    hours = _expect(raw, "miniprogram.session_hours", (int, float))
    if hours <= 0:
        raise ConfigError("miniprogram.session_hours", "must be greater than 0")
    limits = {}
    for key in ("cases_per_day", "uploads_per_hour"):
        limits[key] = _expect(raw, f"miniprogram.{key}", int)
        if limits[key] < 1:
            raise ConfigError(f"miniprogram.{key}", "must be at least 1")
    public_url = _expect(raw, "miniprogram.public_url", str).rstrip("/")
    # A mini-program's <image> and WeChat's checker take https only; the demo serves http.
    schemes = ("https", "http") if demo else ("https",)
    parts = urlsplit(public_url)
    if public_url and (parts.scheme not in schemes or not parts.netloc):
        raise ConfigError(
            "miniprogram.public_url",
            "must be an https:// URL (mini-program images and WeChat's checker fetch it)",
        )
    return MiniProgramSettings(
        session_hours=float(hours),
        cases_per_day=limits["cases_per_day"],
        uploads_per_hour=limits["uploads_per_hour"],
        public_url=public_url,
    )


def _build_app(raw: dict[str, Any], name: str, demo: bool) -> WeChatAppSettings:
    prefix = f"wechat.{name}."
    values = {k: _expect(raw, prefix + k, str) for k in ("appid", "secret", "token", "aes_key")}
    if not demo:
        for key in ("secret", "token"):
            if values[key] in DEMO_SECRETS:
                raise ConfigError(
                    prefix + key, "the shipped demo value is refused outside demo mode"
                )
    aes_key = values["aes_key"]
    if aes_key and len(aes_key) != 43:
        raise ConfigError(prefix + "aes_key", "EncodingAESKey must be 43 characters")
    require_safe = _expect(raw, prefix + "require_safe_mode", bool)
    if require_safe and not aes_key:
        raise ConfigError(prefix + "require_safe_mode", "needs aes_key (the EncodingAESKey)")
    return WeChatAppSettings(
        appid=values["appid"],
        secret=Secret(values["secret"]),
        token=Secret(values["token"]),
        aes_key=Secret(aes_key),
        require_safe_mode=require_safe,
    )
