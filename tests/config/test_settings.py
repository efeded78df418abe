"""Settings: defaults, file and environment layers, and one clear line per invalid key."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import ConfigError, Secret, load_settings


def test_defaults_point_at_a_local_sqlite_file_and_real_wechat() -> None:
    s = load_settings(env={})
    assert s.database_url == "sqlite://data/complaint-desk.sqlite3"
    assert s.media_dir == Path("data/media")
    assert s.wechat.api_base == "https://api.weixin.qq.com"
    assert (s.server.host, s.server.port, s.profile) == ("127.0.0.1", 8080, "market_regulation")
    assert not s.demo


def test_file_then_environment_override(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(
        '[server]\nport = 9000\n[database]\nurl = "postgres://u@db/cases"\n'
        '[wechat.oa]\nappid = "wx123"\n',
        encoding="utf-8",
    )
    env = {
        "COMPLAINT_DESK_SERVER_PORT": "9100",
        "COMPLAINT_DESK_WECHAT_API_BASE": "http://127.0.0.1:9999/",
        "COMPLAINT_DESK_WECHAT_OA_SECRET": "s3cret",
    }
    s = load_settings(path, env)
    assert s.server.port == 9100  # environment wins over the file
    assert s.database_url == "postgres://u@db/cases"
    assert s.wechat.api_base == "http://127.0.0.1:9999"
    assert (s.wechat.oa.appid, s.wechat.oa.secret) == ("wx123", "s3cret")


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text('[organisation]\nprofile = "hospital"\n', encoding="utf-8")
    assert load_settings(env={"COMPLAINT_DESK_CONFIG": str(path)}).profile == "hospital"


def test_secrets_never_show_in_repr() -> None:
    s = load_settings(env={"COMPLAINT_DESK_WECHAT_MP_SECRET": "top-secret-value"})
    assert "top-secret-value" not in repr(s)
    assert repr(Secret("x")) == "Secret('***')"


@pytest.mark.parametrize(
    ("env", "key", "problem"),
    [
        (
            {"COMPLAINT_DESK_SERVER_PORT": "eighty"},
            "COMPLAINT_DESK_SERVER_PORT",
            "expected an integer",
        ),
        ({"COMPLAINT_DESK_SERVER_PORT": "70000"}, "server.port", "between 0 and 65535"),
        ({"COMPLAINT_DESK_DATABASE_URL": "mysql://x"}, "database.url", "sqlite:// or postgres://"),
        ({"COMPLAINT_DESK_WECHAT_API_BASE": "ftp://x"}, "wechat.api_base", "http(s) URL"),
        ({"COMPLAINT_DESK_REDIS_URL": "http://cache:6379"}, "redis.url", "redis:// URL"),
        (
            {"COMPLAINT_DESK_WECHAT_TIMEOUT_SECONDS": "-1"},
            "wechat.timeout_seconds",
            "greater than 0",
        ),
        ({"COMPLAINT_DESK_WECHAT_OA_AES_KEY": "short"}, "wechat.oa.aes_key", "43 characters"),
        (
            {"COMPLAINT_DESK_ORGANISATION_TIMEZONE": "Mars/Base"},
            "organisation.timezone",
            "unknown time zone",
        ),
        ({"COMPLAINT_DESK_DEMO_ENABLED": "maybe"}, "COMPLAINT_DESK_DEMO_ENABLED", "true or false"),
        ({"COMPLAINT_DESK_WECHAT_OA_SECRET": "demo-oa-secret"}, "wechat.oa.secret", "demo value"),
    ],
)
def test_invalid_values_name_the_key(env: dict[str, str], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(env=env)
    message = str(exc.value)
    assert message.startswith(f"configuration error: {key}: ")
    assert problem in message and "\n" not in message


def test_unknown_key_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text("[server]\nprot = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="server.prot: unknown key"):
        load_settings(path, {})
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml", {})
    path.write_text("[server\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path, {})


def test_demo_layer_allows_demo_secrets() -> None:
    s = load_settings(env={}, demo=True)
    assert s.demo and s.wechat.oa.secret == "demo-oa-secret"
    assert s.data_dir == Path("demo-data")


def test_public_url_is_https_except_in_the_demo() -> None:
    """Issue 15 item 16: photo links are built on it, and an <image> takes https only; the
    demo serves plain http on the local machine."""
    env = {"COMPLAINT_DESK_MINIPROGRAM_PUBLIC_URL": "https://desk.example.org/"}
    assert load_settings(env=env).miniprogram.public_url == "https://desk.example.org"
    local = {"COMPLAINT_DESK_MINIPROGRAM_PUBLIC_URL": "http://127.0.0.1:8080"}
    assert load_settings(env=local, demo=True).miniprogram.public_url == "http://127.0.0.1:8080"
    for bad in ("http://127.0.0.1:8080", "https://", "desk.example.org"):
        with pytest.raises(ConfigError, match="miniprogram.public_url: must be an https://"):
            load_settings(env={"COMPLAINT_DESK_MINIPROGRAM_PUBLIC_URL": bad})
