"""Bytes to JSON: every body encoding a PostHog SDK sends, told apart by the bytes.

Pure functions, no I/O. Headers are hints only: posthog-js sends gzip as ``text/plain`` with no
``Content-Encoding``, so the gzip magic bytes decide, not the header. What cannot be decoded
raises :class:`PayloadError` with a reason a person can act on.

With the ``fast`` extra installed (``pip install pytest-hybrid-analytics[fast]``), msgspec reads
the JSON and ISA-L (``isal``) inflates gzip and deflate, two to three times as fast as the
standard library. The results are the same: whatever they refuse (``NaN``, a lone surrogate,
nesting past the recursion limit, a damaged or truncated stream) is decoded again by the standard
library, which then accepts it or words the refusal as it always does. One edge moves: JSON
nested about a thousand levels deep is refused a few levels deeper than the standard library
refuses it (whose own limit moves with the depth of the caller's stack). Not orjson: it reads
an integer past 64 bits as a float.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import json
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from pytest_hybrid_analytics._model.lz64 import LZ64Error, decompress_from_base64

__all__ = [
    "MAX_BODY_BYTES",
    "PayloadError",
    "decode_body",
    "encode_body",
    "fast_decoders",
    "header",
    "split_url",
    "stdlib_decoders",
]

#: The largest body (after decompression) the decoder accepts; PostHog's own limit is 20 MB.
MAX_BODY_BYTES = 32 * 1024 * 1024

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class PayloadError(ValueError):
    """A request body that is not a PostHog payload; the message says why."""


def _extra() -> tuple[Callable[[bytes | str], Any] | None, Callable[[int], Any] | None]:
    """msgspec's JSON ``decode`` and ISA-L's ``decompressobj``, each when installed (the
    ``fast`` extra)."""
    loads: Callable[[bytes | str], Any] | None = None
    inflater: Callable[[int], Any] | None = None
    try:
        import msgspec.json  # type: ignore[import-not-found,unused-ignore]

        loads = msgspec.json.decode
    except ImportError:  # pragma: no cover - depends on the extra
        pass
    try:
        from isal import isal_zlib  # type: ignore[import-not-found,unused-ignore]

        inflater = isal_zlib.decompressobj
    except ImportError:  # pragma: no cover - depends on the extra
        pass
    return loads, inflater


#: msgspec's JSON ``decode`` and ISA-L's ``decompressobj`` while in use, else ``None``.
_fast_loads, _fast_inflater = _extra()


def header(headers: Mapping[str, str] | None, name: str) -> str:
    """The value of header ``name``, matched case-insensitively ('' when absent)."""
    if not headers:
        return ""
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return str(value)
    return ""


def split_url(url: str) -> tuple[str, dict[str, list[str]]]:
    """The path and the query parameters of ``url`` (a full URL or a bare path)."""
    if (
        url[:1] == "/"
        and url[1:2] != "/"
        and "?" not in url
        and "#" not in url
        and "\t" not in url
        and "\r" not in url
        and "\n" not in url
    ):
        return url, {}  # a bare path, as most SDKs post to: what urlsplit would say
    parts = urlsplit(url)
    return parts.path or "/", parse_qs(parts.query, keep_blank_values=True)


def fast_decoders() -> tuple[str, ...]:
    """The faster decoders of the ``fast`` extra in use: ``("msgspec", "isal")`` with the extra
    installed, ``()`` without it (or inside :func:`stdlib_decoders`)."""
    return tuple(
        name
        for name, used in (("msgspec", _fast_loads), ("isal", _fast_inflater))
        if used is not None
    )


@contextlib.contextmanager
def stdlib_decoders() -> Iterator[None]:
    """Decode with the standard library alone while the block runs, extra installed or not
    (to compare the two: this switches the whole process, so not while others decode)."""
    global _fast_loads, _fast_inflater
    saved = _fast_loads, _fast_inflater
    _fast_loads = _fast_inflater = None
    try:
        yield
    finally:
        _fast_loads, _fast_inflater = saved


def _inflate(data: bytes, wbits: int, what: str) -> bytes:
    fast = _fast_inflater
    if fast is not None:
        # Only a whole stream within the limit is taken from ISA-L; anything else is inflated
        # again below, so that the refusal and its wording are the standard library's.
        with contextlib.suppress(Exception):
            quick = fast(wbits)
            out: bytes = quick.decompress(data, MAX_BODY_BYTES + 1)
            if quick.eof and not quick.unconsumed_tail and len(out) <= MAX_BODY_BYTES:
                return out
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, MAX_BODY_BYTES + 1)
    except zlib.error as exc:
        raise PayloadError(f"the body is not valid {what} ({exc})") from None
    if len(out) > MAX_BODY_BYTES or inflater.unconsumed_tail:
        raise PayloadError(
            f"the {what} body inflates past {MAX_BODY_BYTES // (1024 * 1024)} MiB; refusing it"
        )
    if not inflater.eof:
        raise PayloadError(f"the {what} body is truncated (the stream has no end)")
    return out


def _uncompress(body: bytes, content_encoding: str) -> tuple[bytes, str]:
    if body[:2] == _GZIP_MAGIC:
        return _inflate(body, 16 + zlib.MAX_WBITS, "gzip"), "gzip"
    if body[:4] == _ZSTD_MAGIC:
        try:
            import zstandard  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise PayloadError(
                "the body is zstd-compressed; install the 'zstandard' package to decode it"
            ) from None
        try:
            out: bytes = zstandard.ZstdDecompressor().decompress(
                body, max_output_size=MAX_BODY_BYTES
            )
        except zstandard.ZstdError as exc:
            raise PayloadError(f"the body is not valid zstd ({exc})") from None
        return out, "zstd"
    encoding = content_encoding.strip().lower()
    if encoding == "deflate" and body[:1] in (b"\x78", b"\x58", b"\x68", b"\x08"):
        return _inflate(body, zlib.MAX_WBITS, "deflate"), "deflate"
    if encoding == "gzip" and body.lstrip()[:1] not in (b"{", b"["):
        # The header says gzip but the bytes are neither gzip nor JSON.
        raise PayloadError("Content-Encoding says gzip but the body has no gzip header (1f 8b)")
    if len(body) > MAX_BODY_BYTES:
        raise PayloadError(f"the body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB")
    return body, ""


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"the body is not UTF-8 text (byte {exc.start})") from None


def _json(text: str, what: str, raw: bytes | None = None) -> Any:
    """``text`` as JSON (``raw``: the same document as UTF-8 bytes, which msgspec reads
    without a copy)."""
    fast = _fast_loads
    if fast is not None:
        # What msgspec refuses, the standard library reads (NaN, a lone surrogate) or refuses
        # in its own words, below.
        with contextlib.suppress(ValueError, RecursionError):
            return fast(text if raw is None else raw)
    try:
        return json.loads(text)
    except RecursionError:
        raise PayloadError(f"the {what} is nested too deeply to decode") from None
    except ValueError as exc:
        snippet = text[:60] + ("…" if len(text) > 60 else "")
        raise PayloadError(f"the {what} is not valid JSON ({exc}): {snippet!r}") from None


def _from_base64(value: str) -> str:
    compact = "".join(value.split()).replace("-", "+").replace("_", "/")
    if not compact:
        raise PayloadError("the data= field is empty")
    try:
        raw = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise PayloadError("the data= field is not valid base64") from None
    return _text(raw)


def _form_data(text: str, query: Mapping[str, list[str]]) -> tuple[Any, str]:
    form = parse_qs(text, keep_blank_values=True)
    values = form.get("data")
    if not values:
        raise PayloadError("the form body has no data= field")
    value = values[0]
    compression = (form.get("compression") or query.get("compression") or [""])[0].lower()
    if compression == "lz64":
        try:
            return _json(decompress_from_base64(value), "lz64 data= field"), "lz64"
        except LZ64Error as exc:
            raise PayloadError(f"the data= field is not valid lz64 ({exc})") from None
    stripped = value.lstrip()
    if compression != "base64" and stripped[:1] in ("{", "["):
        return _json(value, "data= field"), "form"
    return _json(_from_base64(value), "base64 data= field"), "base64"


def decode_body(
    body: bytes | str | None,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, list[str]] | None = None,
) -> Any:
    """Decode one request body into its JSON value.

    Recognises gzip (by its magic bytes, whatever the headers say), zlib ``deflate`` and zstd
    (by ``Content-Encoding``), base64 and lz64 form bodies (``data=...``), and plain JSON.

    >>> decode_body(b'{"event": "x"}')
    {'event': 'x'}
    """
    return decode_body_encoding(body, headers, query)[0]


def decode_body_encoding(
    body: bytes | str | None,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, list[str]] | None = None,
) -> tuple[Any, str]:
    """:func:`decode_body`, also saying how the body was encoded: ``"gzip"``, ``"deflate"``,
    ``"zstd"``, ``"base64"``, ``"lz64"``, ``"form"`` (JSON in ``data=``) or ``"json"``.

    >>> decode_body_encoding(b'data=eyJhIjogMX0%3D')
    ({'a': 1}, 'base64')
    """
    if body is None:
        raise PayloadError("the request has no body")
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    if not raw.strip():
        raise PayloadError("the request body is empty")
    raw, compressed = _uncompress(raw, header(headers, "Content-Encoding"))
    text = _text(raw).strip()
    if not text:
        raise PayloadError("the request body is empty after decompression")
    query = query or {}
    if text[:1] in ("{", "["):
        return _json(text, "body", raw), compressed or "json"
    if text.startswith("data=") or "&data=" in text:
        value, form = _form_data(text, query)
        return value, compressed or form
    if (query.get("compression") or [""])[0].lower() == "base64":
        return _json(_from_base64(text), "base64 body"), compressed or "base64"
    snippet = text[:40] + ("…" if len(text) > 40 else "")
    raise PayloadError(f"the body is neither JSON, gzip nor a data= form: {snippet!r}")


def encode_body(payload: Any, encoding: str = "json") -> tuple[bytes, dict[str, str], str]:
    """Encode ``payload`` the way a PostHog SDK would: the inverse of :func:`decode_body`.

    ``encoding`` is ``"json"``, ``"gzip-js"`` (posthog-js: raw gzip as ``text/plain``),
    ``"gzip"`` (server SDKs: ``Content-Encoding: gzip``) or ``"base64"`` (a ``data=`` form).
    Returns the body, its headers and the query string to append (``""`` or
    ``"?compression=base64"``).
    """
    text = json.dumps(payload, separators=(",", ":"))
    if encoding == "json":
        return text.encode(), {"Content-Type": "application/json"}, ""
    if encoding == "gzip-js":
        return gzip.compress(text.encode(), mtime=0), {"Content-Type": "text/plain"}, ""
    if encoding == "gzip":
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        return gzip.compress(text.encode(), mtime=0), headers, ""
    if encoding == "base64":
        data = quote(base64.b64encode(text.encode()).decode(), safe="")
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return f"data={data}".encode(), headers, "?compression=base64"
    raise ValueError(f"encoding must be json, gzip-js, gzip or base64, got {encoding!r}")
