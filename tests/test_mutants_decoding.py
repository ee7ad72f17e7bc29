"""Decoding, edge by edge: the exact bytes each SDK encoding makes, how each encoding is told
apart, and the exact reason given for every body that cannot be decoded."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from pathlib import Path
from urllib.parse import quote

import pytest

from pytest_hybrid_analytics._model.lz64 import LZ64Error, decompress_from_base64
from pytest_hybrid_analytics._model.wire import (
    MAX_BODY_BYTES,
    PayloadError,
    decode_body,
    decode_body_encoding,
    encode_body,
    header,
    split_url,
)

PAYLOAD = {"event": "é", "n": [1, 2]}
#: Made by the real LZString (``tests/data/lz64_vectors.json``, see tests/test_lz64.py).
VECTORS = json.loads((Path(__file__).parent / "data" / "lz64_vectors.json").read_text())["vectors"]
COMPACT = '{"event":"\\u00e9","n":[1,2]}'


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
def test_each_encoding_decodes_and_is_named(
    body: bytes | str, headers: dict[str, str] | None, query: dict[str, list[str]], encoding: str
) -> None:
    assert decode_body_encoding(body, headers, query) == ({"a": 1}, encoding)


def test_a_compressed_form_body_is_named_by_its_compression() -> None:
    inner = b"data=" + base64.b64encode(b'{"a": 1}')
    assert decode_body_encoding(gzip.compress(inner)) == ({"a": 1}, "gzip")
    assert decode_body_encoding(
        gzip.compress(base64.b64encode(b"[1]")), None, {"compression": ["base64"]}
    ) == ([1], "gzip")


def test_a_form_field_that_says_base64_is_read_as_base64_even_if_it_looks_like_json() -> None:
    assert reason(b'data={"a":1}&compression=base64') == "the data= field is not valid base64"
    assert reason(b'data={"a":1}', compression="base64") == "the data= field is not valid base64"


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


def test_deflate_needs_the_header_and_a_zlib_first_byte() -> None:
    deflated = zlib.compress(b'{"a": 1}')
    assert deflated[:1] == b"\x78"
    assert reason(deflated).startswith("the body is not UTF-8 text")
    for level_byte in (b"\x58", b"\x68", b"\x08"):
        # Other window sizes start with these bytes: recognised, then refused as not zlib.
        assert reason(level_byte + deflated[1:], {"Content-Encoding": "deflate"}).startswith(
            "the body is not valid deflate ("
        )


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
def test_each_refusal_says_exactly_why(
    body: bytes | None, headers: dict[str, str] | None, expected: str
) -> None:
    assert reason(body, headers) == expected


def test_a_body_that_is_no_known_encoding_is_quoted_up_to_40_characters() -> None:
    assert reason(b"x" * 40) == f"the body is neither JSON, gzip nor a data= form: {'x' * 40!r}"
    assert (
        reason(b"x" * 41) == f"the body is neither JSON, gzip nor a data= form: {'x' * 40 + '…'!r}"
    )


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


def test_a_body_past_the_limit_is_refused_before_decoding() -> None:
    big = b"[" + b" " * MAX_BODY_BYTES + b"]"
    assert reason(big) == "the body is larger than 32 MiB"
    assert decode_body(b"[" + b" " * (MAX_BODY_BYTES - 2) + b"]") == []


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
