"""Decoding, edge by edge: the exact bytes each SDK encoding makes, how each encoding is told
apart, and the exact reason given for every body that cannot be decoded.

Tests marked ``both`` run twice: with the decoders as installed (msgspec and ISA-L when the
``fast`` extra is importable, as in ``make mutate``) and inside :func:`stdlib_decoders`, with
the same expected results, so that both branches of ``wire.py`` are held to them."""

from __future__ import annotations

import base64
import gzip
import importlib.util
import json
import math
import sys
import tracemalloc
import zlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest

from pytest_hybrid_analytics._model import wire
from pytest_hybrid_analytics._model.lz64 import LZ64Error, decompress_from_base64
from pytest_hybrid_analytics._model.wire import (
    MAX_BODY_BYTES,
    PayloadError,
    decode_body,
    decode_body_encoding,
    encode_body,
    fast_decoders,
    header,
    split_url,
    stdlib_decoders,
)

PAYLOAD = {"event": "é", "n": [1, 2]}
#: Made by the real LZString (``tests/data/lz64_vectors.json``, see tests/test_lz64.py).
VECTORS = json.loads((Path(__file__).parent / "data" / "lz64_vectors.json").read_text())["vectors"]
COMPACT = '{"event":"\\u00e9","n":[1,2]}'


#: Whether the ``fast`` extra is importable here (``PYTHONPATH=.fast``).
EXTRA = all(importlib.util.find_spec(name) is not None for name in ("msgspec", "isal"))


@pytest.fixture(params=["as-installed", "stdlib"])
def decoders(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each test twice: with the decoders in use (the extra's, when importable), then with the
    standard library alone."""
    if request.param == "stdlib":
        with stdlib_decoders():
            yield "stdlib"
    else:
        yield "as-installed"


both = pytest.mark.usefixtures("decoders")


def reason(body: bytes | str | None, headers: dict[str, str] | None = None, **query: str) -> str:
    with pytest.raises(PayloadError) as info:
        decode_body_encoding(body, headers, {k: [v] for k, v in query.items()})
    return str(info.value)


# -- encode_body: what each SDK puts on the wire ---------------------------------------------


def test_json_is_compact_and_labelled_json() -> None:
    assert encode_body(PAYLOAD) == (COMPACT.encode(), {"Content-Type": "application/json"}, "")
    assert encode_body(PAYLOAD, "json") == encode_body(PAYLOAD)


def test_posthog_js_gzip_is_reproducible_bytes_sent_as_text_plain() -> None:
    body, headers, query = encode_body(PAYLOAD, "gzip-js")
    assert body == gzip.compress(COMPACT.encode(), mtime=0)
    assert headers == {"Content-Type": "text/plain"}
    assert query == ""


def test_server_gzip_is_reproducible_bytes_with_content_encoding() -> None:
    body, headers, query = encode_body(PAYLOAD, "gzip")
    assert body == gzip.compress(COMPACT.encode(), mtime=0)
    assert headers == {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    assert query == ""


def test_base64_is_a_fully_quoted_form_field_with_its_query_hint() -> None:
    body, headers, query = encode_body({"a": "??>>"}, "base64")
    encoded = base64.b64encode(b'{"a":"??>>"}').decode()
    assert "/" in encoded or "+" in encoded or "=" in encoded
    assert body == f"data={quote(encoded, safe='')}".encode()
    assert headers == {"Content-Type": "application/x-www-form-urlencoded"}
    assert query == "?compression=base64"


def test_an_unknown_encoding_is_refused_by_name() -> None:
    with pytest.raises(
        ValueError, match=r"^encoding must be json, gzip-js, gzip or base64, got 'br'$"
    ):
        encode_body(PAYLOAD, "br")


# -- headers and URLs --------------------------------------------------------------------------


def test_header_lookup_ignores_case_and_stringifies() -> None:
    assert header({"content-encoding": "gzip"}, "Content-Encoding") == "gzip"
    assert header({"X-Count": 3}, "x-count") == "3"  # type: ignore[dict-item]
    assert header({"X-Other": "1"}, "X-Count") == ""
    assert header(None, "X-Count") == ""


def test_split_url_keeps_blank_query_values_and_defaults_the_path() -> None:
    assert split_url("https://h.example?ip=&ver=1") == ("/", {"ip": [""], "ver": ["1"]})
    assert split_url("/e/?compression=gzip-js") == ("/e/", {"compression": ["gzip-js"]})


# -- telling the encodings apart ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "query", "encoding"),
    [
        (b'  {"a": 1}  ', None, {}, "json"),
        ('{"a": 1}', None, {}, "json"),
        (bytearray(b'{"a": 1}'), None, {}, "json"),
        (gzip.compress(b'{"a": 1}'), {"Content-Type": "text/plain"}, {}, "gzip"),
        (zlib.compress(b'{"a": 1}'), {"Content-Encoding": " Deflate "}, {}, "deflate"),
        (b'data={"a": 1}', None, {}, "form"),
        (b'data= {"a": 1}', None, {}, "form"),
        (b'x=1&data={"a": 1}', None, {}, "form"),
        (b"data=" + base64.b64encode(b'{"a": 1}'), None, {}, "base64"),
        (base64.b64encode(b'{"a": 1}'), None, {"compression": ["base64"]}, "base64"),
        (base64.b64encode(b'{"a": 1}'), None, {"compression": ["BASE64"]}, "base64"),
        (b"data=" + base64.urlsafe_b64encode(b'{"a": 1}').rstrip(b"="), None, {}, "base64"),
        (b"data=" + base64.b64encode(b'{"a": 1}') + b"\n", None, {}, "base64"),
    ],
)
@both
def test_each_encoding_decodes_and_is_named(
    body: bytes | str, headers: dict[str, str] | None, query: dict[str, list[str]], encoding: str
) -> None:
    assert decode_body_encoding(body, headers, query) == ({"a": 1}, encoding)


@both
def test_a_compressed_form_body_is_named_by_its_compression() -> None:
    inner = b"data=" + base64.b64encode(b'{"a": 1}')
    assert decode_body_encoding(gzip.compress(inner)) == ({"a": 1}, "gzip")
    assert decode_body_encoding(
        gzip.compress(base64.b64encode(b"[1]")), None, {"compression": ["base64"]}
    ) == ([1], "gzip")


def test_a_form_field_that_says_base64_is_read_as_base64_even_if_it_looks_like_json() -> None:
    assert reason(b'data={"a":1}&compression=base64') == "the data= field is not valid base64"
    assert reason(b'data={"a":1}', compression="base64") == "the data= field is not valid base64"


@both
def test_the_form_field_compression_wins_over_the_query() -> None:
    vector = VECTORS[0]
    field = quote(vector["lz64"], safe="")
    assert decode_body(f"data={field}".encode(), None, {"compression": ["LZ64"]}) == json.loads(
        vector["text"]
    )
    with pytest.raises(
        PayloadError, match=r"^the (data= field is not valid base64|body is not UTF-8)"
    ):
        decode_body(f"data={field}&compression=base64".encode(), None, {"compression": ["lz64"]})


@both
def test_deflate_needs_the_header_and_a_zlib_first_byte() -> None:
    deflated = zlib.compress(b'{"a": 1}')
    assert deflated[:1] == b"\x78"
    assert reason(deflated).startswith("the body is not UTF-8 text")
    for level_byte in (b"\x58", b"\x68", b"\x08"):
        # Other window sizes start with these bytes: recognised, then refused as not zlib.
        assert reason(level_byte + deflated[1:], {"Content-Encoding": "deflate"}).startswith(
            "the body is not valid deflate ("
        )


@both
def test_json_after_a_gzip_header_that_lied_is_still_read() -> None:
    assert decode_body(b'{"a": 1}', {"Content-Encoding": "gzip"}) == {"a": 1}
    assert decode_body(b"  [1]", {"Content-Encoding": "gzip"}) == [1]


# -- refusals, word for word -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        (None, None, "the request has no body"),
        (b" \n ", None, "the request body is empty"),
        (gzip.compress(b"  "), None, "the request body is empty after decompression"),
        (b"\xff{", None, "the body is not UTF-8 text (byte 0)"),
        (b"data=", None, "the data= field is empty"),
        (b"data=&compression=base64", None, "the data= field is empty"),
        (b"data=%%%", None, "the data= field is not valid base64"),
        (
            b"data=" + quote(base64.b64encode(b"\xff\xfe")).encode(),
            None,
            "the body is not UTF-8 text (byte 0)",
        ),
        (
            b"data=N4Ig!&compression=lz64",
            None,
            "the data= field is not valid lz64 ('!' is not a base64 character)",
        ),
        (
            b"xyz",
            {"Content-Encoding": "gzip"},
            "Content-Encoding says gzip but the body has no gzip header (1f 8b)",
        ),
        (
            gzip.compress(b'{"a": 1}')[:-8],
            None,
            "the gzip body is truncated (the stream has no end)",
        ),
        (
            zlib.compress(b'{"a": 1}')[:-3],
            {"Content-Encoding": "deflate"},
            "the deflate body is truncated (the stream has no end)",
        ),
        (
            b"\x1f\x8bnotgzip",
            None,
            "the body is not valid gzip (Error -3 while decompressing data: unknown compression "
            "method)",
        ),
        (
            b"\x28\xb5\x2f\xfd....",
            None,
            "the body is zstd-compressed; install the 'zstandard' package to decode it",
        ),
        (b"[" * 100_000 + b"]" * 100_000, None, "the body is nested too deeply to decode"),
    ],
)
@both
def test_each_refusal_says_exactly_why(
    body: bytes | None, headers: dict[str, str] | None, expected: str
) -> None:
    assert reason(body, headers) == expected


def test_a_body_that_is_no_known_encoding_is_quoted_up_to_40_characters() -> None:
    assert reason(b"x" * 40) == f"the body is neither JSON, gzip nor a data= form: {'x' * 40!r}"
    assert (
        reason(b"x" * 41) == f"the body is neither JSON, gzip nor a data= form: {'x' * 40 + '…'!r}"
    )


@both
def test_invalid_json_is_quoted_up_to_60_characters() -> None:
    exact = '{"a": ' + "1" * 53
    assert len(exact) == 59
    assert reason(exact.encode() + b"x") == (
        "the body is not valid JSON (Expecting ',' delimiter: line 1 column 60 (char 59)): "
        f"{exact + 'x'!r}"
    )
    longer = exact + "xx"
    assert reason(longer.encode()) == (
        "the body is not valid JSON (Expecting ',' delimiter: line 1 column 60 (char 59)): "
        f"{longer[:60] + '…'!r}"
    )


@both
def test_invalid_json_in_a_form_field_names_the_field() -> None:
    assert reason(b'data={"a": ') == (
        "the data= field is not valid JSON (Expecting value: line 1 column 6 (char 5)): '{\"a\":'"
    )
    assert reason(b"data=" + base64.b64encode(b"{oops")) == (
        "the base64 data= field is not valid JSON (Expecting property name enclosed in double "
        "quotes: line 1 column 2 (char 1)): '{oops'"
    )
    assert reason(base64.b64encode(b"{oops"), compression="base64") == (
        "the base64 body is not valid JSON (Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)): '{oops'"
    )


@both
def test_a_body_past_the_limit_is_refused_before_decoding() -> None:
    big = b"[" + b" " * MAX_BODY_BYTES + b"]"
    assert reason(big) == "the body is larger than 32 MiB"
    assert decode_body(b"[" + b" " * (MAX_BODY_BYTES - 2) + b"]") == []


@both
def test_a_gzip_body_inflating_past_the_limit_is_refused() -> None:
    bomb = gzip.compress(b"[" + b" " * MAX_BODY_BYTES + b"]")
    assert reason(bomb) == "the gzip body inflates past 32 MiB; refusing it"
    fits = gzip.compress(b"[" + b" " * (MAX_BODY_BYTES - 2) + b"]")
    assert decode_body(fits) == []


# -- lz64 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the lz64 body is empty"),
        ("  \n", "the lz64 body is empty"),
        ("N4IgpgbmB2AuIC4Q", "the lz64 stream ends in the middle of a code"),
        ("N4Ig!", "'!' is not a base64 character"),
        ("AAs", "the lz64 stream refers to an unknown code 6"),
        ("////", "the lz64 stream does not start with a literal"),
    ],
)
def test_lz64_refusals_say_exactly_why(text: str, expected: str) -> None:
    with pytest.raises(LZ64Error) as info:
        decompress_from_base64(text)
    assert str(info.value) == expected


def test_lz64_input_is_trimmed_and_an_empty_stream_decodes_to_nothing() -> None:
    empty = next(v["lz64"] for v in VECTORS if v["text"] == "")
    assert decompress_from_base64(f"  {empty}  ") == ""
    one = next(v for v in VECTORS if v["text"] == "x")
    assert decompress_from_base64(f"\n{one['lz64']} ") == "x"


#: Made by the real LZString (npm lz-string 1.5.0, ``LZString.compressToBase64``), as
#: tests/data/lz64_vectors.json: each text, then its lz64 stream.
LZ64_WIDE = [
    ("\u0100", "gCAQ"),  # the first character needs 16 bits: the stream starts with code 1
    ("\u0100a", "gCAEMg=="),
    ("\u20ac{}", "jUEG8L5A"),
    ("\u4e2d\u6587 x", "rRynDTAEAeQ="),
]


@pytest.mark.parametrize(("text", "lz64"), LZ64_WIDE)
def test_lz64_streams_that_start_with_a_16_bit_character_decode(text: str, lz64: str) -> None:
    assert decompress_from_base64(lz64) == text


def test_a_lone_surrogate_in_an_lz64_stream_becomes_the_replacement_character() -> None:
    # JavaScript strings may hold a lone surrogate; LZString compresses it as any code unit.
    assert decompress_from_base64("gAbQ") == "\ufffd"  # LZString of "\ud800"
    body = b"data=" + quote("NoIkvBsgukA=", safe="").encode() + b"&compression=lz64"
    assert decode_body_encoding(body) == (["\ufffd"], "lz64")  # of '["\ud83d"]'


# -- more encodings, named ---------------------------------------------------------------------


@both
def test_an_lz64_form_body_is_named_lz64() -> None:
    vector = VECTORS[0]
    body = f"data={quote(vector['lz64'], safe='')}&compression=lz64".encode()
    assert decode_body_encoding(body) == (json.loads(vector["text"]), "lz64")


@both
def test_a_form_field_holding_a_json_array_is_read_as_json() -> None:
    assert decode_body_encoding(b'data=[{"a": 1}]') == ([{"a": 1}], "form")
    assert decode_body_encoding(b"data= [1]") == ([1], "form")


@both
def test_url_safe_base64_with_dashes_and_underscores_decodes() -> None:
    document = b'{"a":"?>?","b":"~~~?"}'
    standard = base64.b64encode(document)
    assert b"+" in standard  # so the url-safe form has a "-"
    assert b"/" in standard  # and a "_"
    urlsafe = base64.urlsafe_b64encode(document)
    assert decode_body_encoding(b"data=" + urlsafe) == (json.loads(document), "base64")
    assert decode_body_encoding(urlsafe, None, {"compression": ["base64"]}) == (
        json.loads(document),
        "base64",
    )


@both
def test_base64_wrapped_over_lines_decodes() -> None:
    encoded = base64.b64encode(b'{"event": "wrapped", "n": [1, 2, 3]}')
    wrapped = b"\r\n".join(encoded[i : i + 8] for i in range(0, len(encoded), 8))
    assert decode_body_encoding(wrapped, None, {"compression": ["base64"]}) == (
        {"event": "wrapped", "n": [1, 2, 3]},
        "base64",
    )


def test_base64_form_bodies_quote_every_slash() -> None:
    body, _, _ = encode_body({"a": "?>?"}, "base64")
    assert base64.b64encode(b'{"a":"?>?"}') == b"eyJhIjoiPz4/In0="
    assert body == b"data=eyJhIjoiPz4%2FIn0%3D"
    assert decode_body_encoding(body, None, {"compression": ["base64"]}) == ({"a": "?>?"}, "base64")


# -- URLs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("//h.example/e/?ver=1", ("/e/", {"ver": ["1"]})),  # scheme-relative: a host, no path
        ("//h.example/e/", ("/e/", {})),
        ("/e/#top", ("/e/", {})),
        ("/e/\t", ("/e/", {})),  # urlsplit drops tabs and line breaks, as WHATWG says
        ("/e\r/", ("/e/", {})),
        ("/e/\n", ("/e/", {})),
        ("/e/", ("/e/", {})),
    ],
)
def test_split_url_reads_host_relative_urls_fragments_and_stray_whitespace_as_urlsplit(
    url: str, expected: tuple[str, dict[str, list[str]]]
) -> None:
    assert split_url(url) == expected


# -- the limit, exactly ------------------------------------------------------------------------


@both
def test_a_gzip_body_inflating_to_one_byte_past_the_limit_is_refused() -> None:
    over = gzip.compress(b"[" + b" " * (MAX_BODY_BYTES - 1) + b"]")
    assert reason(over) == "the gzip body inflates past 32 MiB; refusing it"


@cache
def _gzip_bomb() -> bytes:
    """A gzip stream of 8 x the limit (256 MiB of JSON whitespace), about 250 KB on the wire."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b" " * (1 << 20)
    parts = [packer.compress(b"[")]
    parts += [packer.compress(chunk) for _ in range(8 * MAX_BODY_BYTES // len(chunk))]
    parts += [packer.compress(b"]"), packer.flush()]
    return b"".join(parts)


@both
def test_a_gzip_bomb_is_refused_without_being_inflated_whole() -> None:
    bomb = _gzip_bomb()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        refusal = reason(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert refusal == "the gzip body inflates past 32 MiB; refusing it"
    # At most a few copies of the limit (ISA-L's try, then zlib's), never the bomb's 256 MiB.
    assert peak < 4 * MAX_BODY_BYTES, f"decoding the bomb peaked at {peak / 2**20:.0f} MiB"


# -- the fast extra: used when installed, the standard library otherwise, same results --------


def test_fast_decoders_names_the_extra_in_use_and_nothing_inside_stdlib_decoders() -> None:
    installed = ("msgspec", "isal") if EXTRA else ()
    assert fast_decoders() == installed
    with stdlib_decoders():
        assert fast_decoders() == ()
        assert decode_body(gzip.compress(b"[1]")) == [1]
    assert fast_decoders() == installed


def test_the_extra_is_picked_up_when_importable() -> None:
    if EXTRA:
        import msgspec.json  # type: ignore[import-not-found,unused-ignore]
        from isal import isal_zlib  # type: ignore[import-not-found,unused-ignore]

        assert wire._extra() == (msgspec.json.decode, isal_zlib.decompressobj)
    else:
        assert wire._extra() == (None, None)


def test_without_the_extra_the_standard_library_decodes(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("msgspec", "msgspec.json", "isal", "isal.isal_zlib"):
        monkeypatch.setitem(sys.modules, name, None)  # what a plain install sees: ImportError
    assert wire._extra() == (None, None)


def _spy_inflaters(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each inflater started: ISA-L's (when in use) and zlib's."""
    calls: list[str] = []
    real_fast = wire._fast_inflater
    if real_fast is not None:

        def fast(wbits: int) -> Any:
            calls.append("isal")
            return real_fast(wbits)

        monkeypatch.setattr(wire, "_fast_inflater", fast)

    def stdlib(wbits: int) -> Any:
        calls.append("zlib")
        return zlib.decompressobj(wbits)

    namespace = SimpleNamespace(decompressobj=stdlib, error=zlib.error, MAX_WBITS=zlib.MAX_WBITS)
    monkeypatch.setattr(wire, "zlib", namespace)
    return calls


#: The inflater that decodes a whole stream within the limit, alone.
FASTEST = ["isal"] if EXTRA else ["zlib"]


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (gzip.compress(b'{"a": 1}'), None),
        (zlib.compress(b'{"a": 1}'), {"Content-Encoding": "deflate"}),
    ],
    ids=["gzip", "deflate"],
)
def test_a_whole_stream_is_inflated_once_by_the_fastest_inflater(
    monkeypatch: pytest.MonkeyPatch, body: bytes, headers: dict[str, str] | None
) -> None:
    calls = _spy_inflaters(monkeypatch)
    assert decode_body(body, headers) == {"a": 1}
    assert calls == FASTEST


def test_a_stream_inflating_to_exactly_the_limit_is_inflated_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fits = gzip.compress(b"[" + b" " * (MAX_BODY_BYTES - 2) + b"]")
    calls = _spy_inflaters(monkeypatch)
    assert decode_body(fits) == []
    assert calls == FASTEST


def test_a_broken_stream_is_refused_in_the_standard_librarys_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tried_then_redone = ["isal", "zlib"] if EXTRA else ["zlib"]
    calls = _spy_inflaters(monkeypatch)
    assert reason(gzip.compress(b'{"a": 1}')[:-8]) == (
        "the gzip body is truncated (the stream has no end)"
    )
    assert calls == tried_then_redone
    calls.clear()
    assert reason(b"\x1f\x8b\x08\x00" + b"\xff" * 12) == (
        "the body is not valid gzip (Error -3 while decompressing data: invalid block type)"
    )
    assert calls == tried_then_redone


def _spy_json(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each JSON read: msgspec's (when in use) with the type it was given, and json's."""
    calls: list[str] = []
    real_fast = wire._fast_loads
    if real_fast is not None:

        def fast(document: bytes | str) -> Any:
            calls.append(f"msgspec {type(document).__name__}")
            return real_fast(document)

        monkeypatch.setattr(wire, "_fast_loads", fast)

    def loads(text: str) -> Any:
        calls.append("json")
        return json.loads(text)

    monkeypatch.setattr(wire, "json", SimpleNamespace(loads=loads, dumps=json.dumps))
    return calls


def test_a_json_body_is_read_once_and_msgspec_reads_its_bytes_as_they_came(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = _spy_json(monkeypatch)
    assert decode_body(b' {"a": [1, 2]} ') == {"a": [1, 2]}
    assert calls == (["msgspec bytes"] if EXTRA else ["json"])


def test_a_json_form_field_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _spy_json(monkeypatch)
    assert decode_body(b'data={"a": 1}') == {"a": 1}
    assert calls == (["msgspec str"] if EXTRA else ["json"])


@both
def test_json_the_fast_reader_refuses_is_read_by_the_standard_library() -> None:
    value = decode_body(b'{"a": NaN, "b": Infinity}')
    assert math.isnan(value["a"])
    assert value["b"] == math.inf
    assert decode_body(b'data={"a": NaN}')["a"] != 0.0
    assert decode_body(b'["\\ud800"]') == ["\ud800"]  # an escaped lone surrogate
