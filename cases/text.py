"""What a citizen typed, made comparable: one normalisation for every parser of their input."""

from __future__ import annotations

import unicodedata


def plain_input(text: str) -> str:
    """Full-width letters, digits and punctuation (Chinese input methods) become ASCII (NFKC);
    invisible format characters pasted along (zero-width space, RTL marks) are dropped."""
    return "".join(
        c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c) != "Cf"
    )


# Format characters (Unicode category Cf): bidi controls such as U+202E RIGHT-TO-LEFT OVERRIDE,
# which make "txt.exe" read "exe.txt", and zero-width ones that make two names look alike.
def without_format_chars(text: str) -> str:
    """`text` without its invisible format characters (bidi controls, zero-width spaces and
    joiners, BOM); what a clerk sees is then what is stored."""
    if text.isascii():
        return text
    return "".join(c for c in text if unicodedata.category(c) != "Cf")
