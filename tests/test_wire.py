"""Bytes to JSON: every encoding, told apart by the bytes, and clear errors for the rest."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from urllib.parse import quote

import pytest

from pytest_hybrid_analytics._model.wire import (
    MAX_BODY_BYTES,
    PayloadError,
    decode_body,
    encode_body,
    header,
    split_url,
)

PAYLOAD = {"api_key": "phc_k", "batch": [{"event": "é ✓", "properties": {"n": 1}}]}
TEXT = json.dumps(PAYLOAD)


@pytest.mark.parametrize("encoding", ["json", "gzip-js", "gzip", "base64"])
def test_every_sdk_encoding_round_trips(encoding: str) -> None:
    body, headers, query = encode_body(PAYLOAD, encoding)
    assert decode_body(body, headers, split_url("/e/" + query)[1]) == PAYLOAD


def test_gzip_is_recognised_by_its_bytes_whatever_the_headers_say() -> None:
    body = gzip.compress(TEXT.encode())
    assert decode_body(body, {"Content-Type": "text/plain"}) == PAYLOAD
    assert decode_body(body, {"Content-Type": "application/json"}) == PAYLOAD
    assert decode_body(body, None) == PAYLOAD


def test_a_content_encoding_header_on_plain_json_is_not_trusted() -> None:
    # A proxy that already inflated the body but kept the header.
    assert decode_body(TEXT.encode(), {"content-encoding": "gzip"}) == PAYLOAD


def test_deflate_by_content_encoding() -> None:
    assert decode_body(zlib.compress(TEXT.encode()), {"Content-Encoding": "deflate"}) == PAYLOAD


def test_base64_form_without_compression_hint_is_detected() -> None:
    data = quote(base64.b64encode(TEXT.encode()).decode(), safe="")
    assert decode_body(f"data={data}".encode()) == PAYLOAD
    urlsafe = base64.urlsafe_b64encode(TEXT.encode()).decode().rstrip("=")
    assert decode_body(f"data={urlsafe}".encode()) == PAYLOAD


def test_form_with_raw_json_data_field() -> None:
    assert decode_body(f"data={quote(TEXT)}".encode()) == PAYLOAD


def test_base64_body_without_form_when_query_says_base64() -> None:
    body = base64.b64encode(TEXT.encode())
    assert decode_body(body, {}, {"compression": ["base64"]}) == PAYLOAD


def test_str_bodies_are_accepted() -> None:
    assert decode_body(TEXT) == PAYLOAD


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (None, None, "the request has no body"),
        (b"", None, "the request body is empty"),
        (b"  \n", None, "the request body is empty"),
        (b"\x1f\x8bnot gzip", None, "the body is not valid gzip"),
        (gzip.compress(b"{}")[:-12], None, "the gzip body is truncated (the stream has no end)"),
        (b"\xff\xfe{}", None, "the body is not UTF-8 text (byte 0)"),
        (b"{broken", None, "the body is not valid JSON (Expecting property name"),
        (b"hello there", None, "the body is neither JSON, gzip nor a data= form: 'hello there'"),
        (b"data=%%%", None, "the data= field is not valid base64"),
        (b"data=aGVsbG8%3D", None, "the base64 data= field is not valid JSON"),
        (b"data=!!!", None, "the data= field is not valid base64"),
        (b"x=1&y=2&data=", None, "the data= field is empty"),
        (b"abc", {"Content-Encoding": "gzip"}, "Content-Encoding says gzip but the body has no"),
        (b"[" * 100_000, None, "the body is nested too deeply to decode"),
        (b"\x28\xb5\x2f\xfd\x00", None, "the body is zstd-compressed; install the 'zstandard'"),
        (b"data=%21%21&compression=lz64", None, "the data= field is not valid lz64 ('!' is not"),
        (b"data=BYUwNmD2Q&compression=lz64", None, "the lz64 data= field is not valid JSON"),
    ],
)
def test_bad_bodies_raise_payload_error_with_a_reason(
    body: bytes | None, headers: dict[str, str] | None, reason: str
) -> None:
    with pytest.raises(PayloadError) as info:
        decode_body(body, headers)
    assert str(info.value).startswith(reason)
    assert isinstance(info.value, ValueError)


def test_a_gzip_bomb_is_refused_without_inflating_it_all() -> None:
    bomb = gzip.compress(b"[" + b" " * (MAX_BODY_BYTES + 10) + b"]")
    with pytest.raises(PayloadError, match="inflates past 32 MiB; refusing it"):
        decode_body(bomb)


def test_header_lookup_is_case_insensitive() -> None:
    assert header({"content-ENCODING": "gzip"}, "Content-Encoding") == "gzip"
    assert header(None, "X") == ""
    assert header({}, "X") == ""


def test_split_url_takes_full_urls_and_bare_paths() -> None:
    assert split_url("https://h.test/e/?compression=base64&v=") == (
        "/e/",
        {"compression": ["base64"], "v": [""]},
    )
    assert split_url("/batch/") == ("/batch/", {})
    assert split_url("") == ("/", {})


def test_encode_body_rejects_unknown_encodings() -> None:
    with pytest.raises(ValueError, match="encoding must be json, gzip-js, gzip or base64"):
        encode_body({}, "brotli")
