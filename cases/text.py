"""What a citizen typed, made comparable: one normalisation for every parser of their input."""

from __future__ import annotations

import unicodedata


def plain_input(text: str) -> str:
    """Full-width letters, digits and punctuation (Chinese input methods) become ASCII (NFKC);
    invisible format characters pasted along (zero-width space, RTL marks) are dropped."""
    return "".join(
        c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c) != "Cf"
    )
