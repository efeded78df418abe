"""One log record, one line: nothing a request sent can forge another log line.

A pushed field (a MediaId, an event key), a path or an error text from WeChat may hold a
newline; written as is it would start a line that looks like the desk's own. Every record's
message is escaped once, where records are made, so no call site has to remember it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# C0 and C1 controls and the Unicode line/paragraph separators: all can break a log line.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_for_log(text: str) -> str:
    """`text` with every control character written as its Python escape (`\\n`, `\\x1b`)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class _EscapingRecordFactory:
    def __init__(self, factory: Any) -> None:
        self.factory = factory

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken log call: logging reports it when the record is written
            return record
        escaped = escape_for_log(message)
        if escaped != message:
            record.msg, record.args = escaped, ()
        return record


def escape_all_log_records() -> None:
    """Make every log record of the process escape its message (idempotent)."""
    if not isinstance(logging.getLogRecordFactory(), _EscapingRecordFactory):
        logging.setLogRecordFactory(_EscapingRecordFactory(logging.getLogRecordFactory()))
