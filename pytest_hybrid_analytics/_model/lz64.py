"""Decoder for the legacy ``lz64`` body encoding (LZString's ``compressToBase64``).

posthog-js sent ``compression=lz64`` form bodies until 1.63.0 (2023); old pinned apps still do.
Only decompression is needed. Written from the LZString format description: a stream of
variable-width codes read least-significant bit first from base64 characters worth 6 bits each.
"""

from __future__ import annotations

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_REVERSE = {char: index for index, char in enumerate(_ALPHABET)}


class LZ64Error(ValueError):
    """The input is not a valid LZString base64 stream."""


class _Bits:
    __slots__ = ("_index", "_position", "_text", "_value")

    def __init__(self, text: str) -> None:
        self._text = text
        self._index = 0
        self._value = 0
        self._position = 0

    def read(self, width: int) -> int:
        result = 0
        for shift in range(width):
            if self._position == 0:
                if self._index >= len(self._text):
                    raise LZ64Error("the lz64 stream ends in the middle of a code")
                char = self._text[self._index]
                self._index += 1
                try:
                    self._value = _REVERSE[char]
                except KeyError:
                    raise LZ64Error(f"{char!r} is not a base64 character") from None
                self._position = 32
            if self._value & self._position:
                result |= 1 << shift
            self._position >>= 1
        return result


def decompress_from_base64(text: str) -> str:
    """Inverse of ``LZString.compressToBase64``; raises :class:`LZ64Error` on bad input."""
    text = text.strip()
    if not text:
        raise LZ64Error("the lz64 body is empty")
    bits = _Bits(text)
    dictionary: list[str] = ["", "", ""]
    width = 3
    enlarge_in = 4

    first = bits.read(2)
    if first == 2:
        return ""
    if first not in (0, 1):
        raise LZ64Error("the lz64 stream does not start with a literal")
    word = chr(bits.read(8 if first == 0 else 16))
    dictionary.append(word)
    out = [word]
    while True:
        code = bits.read(width)
        if code in (0, 1):
            dictionary.append(chr(bits.read(8 if code == 0 else 16)))
            code = len(dictionary) - 1
            enlarge_in -= 1
            if enlarge_in == 0:
                enlarge_in = 1 << width
                width += 1
        elif code == 2:
            joined = "".join(out)
            # LZString works on UTF-16 code units; re-pair surrogates into characters.
            return joined.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        if 3 <= code < len(dictionary):
            entry = dictionary[code]
        elif code == len(dictionary):
            entry = word + word[0]
        else:
            raise LZ64Error(f"the lz64 stream refers to an unknown code {code}")
        out.append(entry)
        dictionary.append(word + entry[0])
        enlarge_in -= 1
        if enlarge_in == 0:
            enlarge_in = 1 << width
            width += 1
        word = entry
