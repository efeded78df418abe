"""The chat-bot's keywords from config/chat.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache

from config.settings import CONFIG_DIR, ConfigError

CHAT_FILE = CONFIG_DIR / "chat.toml"


@dataclass(frozen=True)
class ChatWords:
    supplement: frozenset[str]
    confirm: frozenset[str]
    photos_done: frozenset[str]
    abandon: frozenset[str]
    keep: frozenset[str]
    greetings: frozenset[str]


@cache
def load_chat_words() -> ChatWords:
    """The words, lower-cased (the bot compares lower-cased text); read once, on first use."""
    try:
        with CHAT_FILE.open("rb") as f:
            raw = tomllib.load(f)
        words = ChatWords(
            **{
                name: frozenset(str(w).strip().lower() for w in raw[name])
                for name in ChatWords.__dataclass_fields__
            }
        )
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(CHAT_FILE.name, f"invalid chat words ({exc})") from None
    if not all(getattr(words, name) for name in ChatWords.__dataclass_fields__):
        raise ConfigError(CHAT_FILE.name, "every word list needs at least one word")
    return words
