"""The legacy lz64 decoder against vectors made by the real LZString (npm lz-string 1.5.0).

``data/lz64_vectors.json`` was produced by ``LZString.compressToBase64`` from the published
``lz-string`` package, the library posthog-js used for ``compression=lz64`` before 1.63.0.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest

from pytest_hybrid_analytics._model.lz64 import LZ64Error, decompress_from_base64
from pytest_hybrid_analytics._model.wire import decode_body

VECTORS = json.loads((Path(__file__).parent / "data" / "lz64_vectors.json").read_text())["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["text"][:20] or "empty")
def test_decodes_what_lz_string_encoded(vector: dict[str, str]) -> None:
    if not vector["lz64"]:
        with pytest.raises(LZ64Error, match="the lz64 body is empty"):
            decompress_from_base64(vector["lz64"])
        return
    assert decompress_from_base64(vector["lz64"]) == vector["text"]


def test_lz64_form_bodies_decode_through_the_wire_layer() -> None:
    vector = VECTORS[0]
    body = f"data={quote(vector['lz64'], safe='')}&compression=lz64".encode()
    assert decode_body(body) == json.loads(vector["text"])
    query_hint = decode_body(
        f"data={quote(vector['lz64'], safe='')}".encode(), {}, {"compression": ["lz64"]}
    )
    assert query_hint == json.loads(vector["text"])


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("N4Ig!", "'!' is not a base64 character"),
        ("N4IgpgbmB2AuIC4Q", "the lz64 stream ends in the middle of a code"),
        ("AAs", "the lz64 stream refers to an unknown code 6"),
        ("////", "the lz64 stream does not start with a literal"),
    ],
)
def test_bad_streams_say_why(text: str, reason: str) -> None:
    with pytest.raises(LZ64Error, match=reason):
        decompress_from_base64(text)
