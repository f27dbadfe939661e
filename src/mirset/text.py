"""Text made safe for T5-style text encoders, shared by every field that holds prose or tags.

The old tool's normalisation, completed: typographic dashes, quotes, ellipses and special spaces
become ASCII, then Unicode NFKC; letters such as ä or ø are kept. Chat-template and "thinking"
tokens that language models leak into their answers are stripped.
"""

from __future__ import annotations

import re
import unicodedata

_ASCII = str.maketrans(
    {
        "\u2010": "-",  # hyphen
        "\u2011": "-",  # non-breaking hyphen
        "\u2012": "-",  # figure dash
        "\u2013": "-",  # en dash
        "\u2014": "--",  # em dash
        "\u2015": "--",  # horizontal bar
        "\u2212": "-",  # minus sign
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",  # prime
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',  # double prime
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2026": "...",
        "\u2022": "-",  # bullet
        "\u00b7": "-",  # middle dot
        "\u00a0": " ",  # no-break space
        "\u202f": " ",  # narrow no-break space
        "\u2009": " ",  # thin space
        "\u200a": " ",  # hair space
        "\u2007": " ",  # figure space
        "\u3000": " ",  # ideographic space
        "\u200b": "",  # zero-width space
        "\ufeff": "",  # byte-order mark
    }
)
_DROPPED_CATEGORIES = {"Cc", "Cf", "Co", "Cs"}
_STRUCTURAL = re.compile(
    r"<\|[^|>]{1,40}\|>|</?(?:think|thinking|s|sound|audio)>|\[/?INST\]", re.IGNORECASE
)


def t5_safe(text: str) -> str:
    """ASCII punctuation and spaces, NFKC, control / format / private-use characters and the
    replacement character (undecodable bytes a model emitted) dropped, runs of whitespace
    collapsed, ends trimmed."""
    text = unicodedata.normalize("NFKC", text.translate(_ASCII))
    text = "".join(
        c for c in text if c.isspace() or unicodedata.category(c) not in _DROPPED_CATEGORIES
    ).replace("\ufffd", "")
    return re.sub(r"\s+", " ", text).strip()


def strip_structural_tokens(text: str) -> str:
    """Drop a model's hidden reasoning (anything up to a closing think tag) and chat tokens."""
    if "</think>" in text.lower():
        text = re.split(r"</think>", text, flags=re.IGNORECASE)[-1]
    return _STRUCTURAL.sub("", text)
