"""Labels that name files: letters of every script kept, what a file system refuses taken out.

A label names ``<label>.csv`` and the ``<label>/`` preview folder, so it must be a valid file name
on Linux, macOS and Windows alike: no ``/ \\ : * ? " < > |``, no control characters, no leading dot
(hidden) or dash (read as an option), no trailing dot or space (Windows drops them), none of
Windows' reserved device names (``CON``, ``NUL``, ``COM1``, ... also with an extension), and at most
:data:`MAX_LABEL_BYTES` bytes of UTF-8 (file systems limit a name to 255 bytes, and the label gets
suffixes such as ``.parquet.meta.json``). Text is NFC-normalised (again after lower-casing, which
can decompose), so a name typed on macOS (which decomposes accents) and on Linux gives the same
file. A combining mark is kept only right after a kept letter, digit or mark; variation selectors
(the invisible U+FE0F after many emoji) never.
"""

from __future__ import annotations

import re
import unicodedata

from spotidance.core.errors import SpotidanceError

#: Longest label, in bytes of UTF-8 (leaves room for ``.<label>.parquet.journal`` within 255).
MAX_LABEL_BYTES = 100

#: Windows' reserved device names (case-insensitive, with or without an extension).
WINDOWS_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"] + [f"com{i}" for i in "123456789¹²³"] + [f"lpt{i}" for i in "123456789¹²³"]
)

#: Characters a label may hold besides letters, marks and digits of any script.
_PUNCTUATION = "._-"


def _is_selector(ch: str) -> bool:
    """A variation selector (U+FE00-FE0F, U+E0100-E01EF): it only picks a glyph (emoji style) and is invisible."""
    return "\ufe00" <= ch <= "\ufe0f" or "\U000e0100" <= ch <= "\U000e01ef"


def _kept_flags(text: str) -> list[bool]:
    """For each character of ``text``: is it kept in a label?

    Letters and digits of any script and ``._-`` are kept; a combining mark only right after a kept
    letter, digit or mark (so an emoji's marks, or a mark with nothing to sit on, are not); variation
    selectors never.
    """
    flags: list[bool] = []
    for i, ch in enumerate(text):
        kind = unicodedata.category(ch)[0]
        if kind == "M":  # kept after a kept letter, digit or mark (not after ._- and not at the start)
            flags.append(i > 0 and flags[-1] and text[i - 1] not in _PUNCTUATION and not _is_selector(ch))
        else:
            flags.append(ch in _PUNCTUATION or kind in "LN")
    return flags


def _bounded(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8, never inside a character or before its marks."""
    if len(text.encode("utf-8")) <= limit:
        return text
    out, size = [], 0
    for ch in text:
        size += len(ch.encode("utf-8"))
        if size > limit:
            break
        out.append(ch)
    # a base letter whose combining marks were cut off would change the word: drop it too
    while out and len(out) < len(text) and unicodedata.category(text[len(out)])[0] == "M":
        out.pop()
    return "".join(out)


def _trim(text: str) -> str:
    return text.strip("-._ ")


def _unreserved(label: str) -> str:
    stem = label.split(".", 1)[0].lower()
    return f"{label}_" if stem in WINDOWS_RESERVED else label


def safe_label(name: str) -> str:
    """A file-name-safe label from a playlist name; ``""`` when the name holds no letter or digit.

    Letters are lower-cased and kept in every script; every run of other characters (spaces,
    punctuation, emoji, symbols) becomes one ``-``.

    Examples
    --------
    >>> safe_label("Techno Bunker!")
    'techno-bunker'
    >>> safe_label("テクノ"), safe_label("Техно"), safe_label("🔥 techno")
    ('テクノ', 'техно', 'techno')
    >>> safe_label("CON")
    'con_'
    >>> safe_label("❤️ Techno")  # the emoji's variation selector goes with it
    'techno'
    """
    text = unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).lower())  # lower() may decompose ("İ")
    text = "".join(ch if kept and ch not in "." else "-" for ch, kept in zip(text, _kept_flags(text)))
    text = _trim(re.sub(r"-+", "-", text))
    text = _trim(_bounded(text, MAX_LABEL_BYTES))
    return _unreserved(text) if text else ""


def check_label(label: str) -> str:
    """A label the user gave (``--label``), NFC-normalised; a one-line error if it cannot name files.

    Letters and digits of any script (with their combining marks), ``.``, ``_`` and ``-`` are
    allowed; the first character must be a letter or digit (not a mark), and variation selectors
    are refused.
    """
    text = unicodedata.normalize("NFC", label)
    bad = sorted({ch for ch, kept in zip(text, _kept_flags(text)) if not kept})
    if bad or not text or unicodedata.category(text[0])[0] not in "LN" or text[-1] == ".":
        shown = "".join(ch if ch.isprintable() and unicodedata.category(ch)[0] != "M" else f"U+{ord(ch):04X}" for ch in bad)
        what = f" (not {shown!r})" if bad else ""
        raise SpotidanceError(f"--label {label!r} must be letters or digits (any script), '.', '_' or '-', "
                              f"starting with a letter or digit and not ending with '.'{what}: it names files")  # fmt: skip
    if len(text.encode("utf-8")) > MAX_LABEL_BYTES:
        raise SpotidanceError(f"--label is {len(text.encode('utf-8'))} bytes long: at most {MAX_LABEL_BYTES} (it names files)")
    if text.split(".", 1)[0].lower() in WINDOWS_RESERVED:
        raise SpotidanceError(f"--label {label!r} is a reserved device name on Windows: pick another")
    return text
