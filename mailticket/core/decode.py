"""Decoding (pure): raw header values and body bytes in, text out; never fails.

Headers: folding unfolded, undeclared 8-bit bytes read as UTF-8 else cp1252/latin-1, RFC 2047
encoded words decoded in any charset Python knows (RFC 2231 language suffixes ignored, broken
base64 repaired), control characters (NUL, CR LF from an encoded word, terminal escapes) turned
into spaces: a decoded value is one line of text for reading. Bytes: the declared charset, else
UTF-8, else cp1252, else latin-1. Used by parse.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=")
_SPACE_ONLY = re.compile(r"[ \t\r\n]*")
_FOLD = re.compile(r"\r?\n[ \t]+")  # folding whitespace becomes one space: values are for reading
# Control and line-breaking characters (C0, DEL, C1, Unicode line and paragraph separators): none
# may stay in a value that is one line of text, whether read from a mail or written into one.
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Text labelled latin-1 is really cp1252 far more often (browsers do the same); 8-bit text
# labelled ASCII is mislabelled, so it is treated as undeclared.
_CHARSET_ALIASES = {"iso8859-1": "cp1252", "ascii": None}  # keys are codecs.lookup() names


def decode_header(raw: str) -> str:
    """Unfold and decode one raw header value (8-bit bytes and RFC 2047 encoded words)."""
    value = unfold(raw).strip()
    if "=?" in value:
        value = _decode_words(value)
    return CONTROL_CHARS.sub(" ", value).strip()


def unfold(raw: str) -> str:
    """A raw header value on one line with its 8-bit bytes decoded; encoded words left as they are."""
    return _FOLD.sub(" ", fix_8bit(str(raw)))


def fix_8bit(value: str) -> str:
    """`value` with undeclared 8-bit bytes decoded (the stdlib parser carries them as surrogate escapes)."""
    if value.isascii():
        return value
    try:
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # surrogates that were not escaped bytes
        return value.encode("utf-8", "replace").decode("utf-8")
    return decode_bytes(data, None)


def _decode_words(value: str) -> str:
    # Adjacent words of one charset are joined before decoding: encoders split multibyte
    # characters across words. Whitespace between two encoded words is not text (RFC 2047 6.2).
    out: list[str] = []
    pending, pending_charset, pos = b"", "", 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        charset = match.group(1).split("*", 1)[0].lower()  # RFC 2231 language suffix
        if not (pending and _SPACE_ONLY.fullmatch(between)):
            out.append(decode_bytes(pending, pending_charset))
            out.append(between)
            pending = b""
        elif charset != pending_charset:
            out.append(decode_bytes(pending, pending_charset))
            pending = b""
        pending += _word_bytes(match.group(2), match.group(3))
        pending_charset, pos = charset, match.end()
    out.append(decode_bytes(pending, pending_charset))
    out.append(value[pos:])
    return "".join(out)


def _word_bytes(encoding: str, text: str) -> bytes:
    if encoding in "Bb":
        # Repair what senders break: stray characters, missing padding, a cut-off last group.
        clean = re.sub(r"[^A-Za-z0-9+/]", "", text)
        clean = clean[: len(clean) - 1] if len(clean) % 4 == 1 else clean
        return base64.b64decode(clean + "=" * (-len(clean) % 4))
    return binascii.a2b_qp(text.encode("ascii", "replace"), header=True)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset, else UTF-8, else cp1252, else latin-1 (never fails)."""
    if not data:
        return ""
    for name in (_codec(charset), "utf-8", "cp1252"):
        if name and (text := _try_decode(data, name)) is not None:
            return text
    return data.decode("latin-1")


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    try:
        name = codecs.lookup(charset).name
    except (LookupError, ValueError):  # unknown, or not even a valid name
        return None
    return _CHARSET_ALIASES.get(name, name)


def _try_decode(data: bytes, codec: str) -> str | None:
    try:
        text = data.decode(codec)  # LookupError for non-text codecs such as rot13 or base64
        text.encode("utf-8")  # some codecs (utf-7, utf-16) can yield lone surrogates
    except (LookupError, UnicodeError, ValueError):
        return None
    return text
