from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from audit.exceptions import VxmFormatError
from audit.model.vxm import BlurSpec, ConvSpec, PoolSpec, file_sha256, parse_layers, read_vxm

SHA256 = "b76cefc218ec8969cc62b26ad0f41111800421287e7f2725d808da1d90afbdf7"
CONV_SHAPES = {
    0: (43, 3, 3, 3), 1: (44, 43, 3, 3), 3: (49, 44, 3, 3), 4: (56, 49, 3, 3),
    6: (44, 56, 3, 3), 7: (38, 44, 3, 3), 9: (31, 38, 3, 3), 10: (20, 31, 3, 3),
    12: (18, 20, 3, 3), 13: (10, 18, 3, 3), 14: (7, 10, 1, 1), 15: (7, 7, 1, 1),
    16: (2, 7, 1, 1), 17: (1, 2, 1, 1),
}
ALPHAS = {14: 0.2747, 15: 0.2713, 16: 0.3741, 17: 0.3894}


@pytest.fixture(scope="module")
def raw(weights_path: Path) -> bytes:
    return weights_path.read_bytes()


def _entries(data: bytes) -> list[tuple[bytes, bytes]]:
    count = struct.unpack_from("<I", data, 4)[0]
    off, out = 8, []
    for _ in range(count):
        kl = struct.unpack_from("<I", data, off)[0]
        key = data[off + 4:off + 4 + kl]
        off += 4 + kl
        vl = struct.unpack_from("<I", data, off)[0]
        out.append((key, data[off + 4:off + 4 + vl]))
        off += 4 + vl
    return out


def _build(entries: list[tuple[bytes, bytes]]) -> bytes:
    parts = [b"\x01\x74\x50\x4d", struct.pack("<I", len(entries))]
    for key, value in entries:
        parts += [struct.pack("<I", len(key)), key, struct.pack("<I", len(value)), value]
    return b"".join(parts)


def _replace(data: bytes, key: str, value: bytes) -> bytes:
    k = key.encode() + b"\x00"
    entries = [(kk, value if kk == k else vv) for kk, vv in _entries(data)]
    assert any(kk == k for kk, _ in entries), key
    return _build(entries)


def test_real_file_has_19_layers_with_the_documented_shapes(weights_path: Path) -> None:
    vxm = read_vxm(weights_path)
    assert len(vxm.entries) == 239
    assert vxm.get_int("layerCount") == 19 and vxm.get_int("modelType") == 2
    layers = parse_layers(vxm)
    assert len(layers) == 19
    for i, layer in enumerate(layers):
        if i in CONV_SHAPES:
            assert isinstance(layer, ConvSpec)
            assert layer.weight.shape == CONV_SHAPES[i] and layer.weight.dtype == np.float32
            assert layer.bias.shape == (CONV_SHAPES[i][0],)
            if i in ALPHAS:
                assert layer.activation == "leaky_relu"
                assert layer.alpha == pytest.approx(ALPHAS[i], abs=5e-5)
            else:
                assert layer.activation == "relu"
        elif i == 18:
            assert layer == BlurSpec(kernel_size=19, std=3)
        else:
            assert layer == PoolSpec(2)
    assert file_sha256(weights_path) == SHA256


def test_parses_from_bytes_identically(raw: bytes, weights_path: Path) -> None:
    a, b = parse_layers(read_vxm(raw)), parse_layers(read_vxm(weights_path))
    assert isinstance(a[0], ConvSpec) and isinstance(b[0], ConvSpec)
    np.testing.assert_array_equal(a[0].weight, b[0].weight)


def test_bad_magic(raw: bytes) -> None:
    with pytest.raises(VxmFormatError, match=r"magic bytes are 00 74 50 4d, expected 01 74 50 4d"):
        read_vxm(b"\x00" + raw[1:])


def test_truncated_file_names_the_key_it_was_reading(raw: bytes) -> None:
    with pytest.raises(VxmFormatError, match=r"truncated at offset \d+: needed \d+ bytes for "
                       r"the value of '.*', only \d+ left"):
        read_vxm(raw[:100_000])


def test_length_past_end(raw: bytes) -> None:
    # First entry's value length set far past the end of the file.
    kl = struct.unpack_from("<I", raw, 8)[0]
    off = 8 + 4 + kl
    bad = raw[:off] + struct.pack("<I", 10**8) + raw[off + 4:]
    with pytest.raises(VxmFormatError, match=r"needed 100000000 bytes for the value of '0Act'"):
        read_vxm(bad)


def test_trailing_bytes(raw: bytes) -> None:
    with pytest.raises(VxmFormatError, match=r"3 trailing bytes after the last of 239 entries "
                       r"\(offset 489616\)"):
        read_vxm(raw + b"abc")


def test_unknown_layer_type(raw: bytes) -> None:
    bad = _replace(raw, "2Type", struct.pack("<i", 7))
    with pytest.raises(VxmFormatError, match=r"layer 2 has unknown type 7 \(key '2Type'\)"):
        parse_layers(read_vxm(bad))


def test_shape_length_mismatch(raw: bytes) -> None:
    bad = _replace(raw, "0b", b"\x00" * 168)
    with pytest.raises(VxmFormatError, match=r"key '0b' holds 168 bytes = 42.0 float32 values "
                       r"but its shape \(43,\) needs 43"):
        parse_layers(read_vxm(bad))


def test_wrong_dtype(raw: bytes) -> None:
    bad = _replace(raw, "0w.dtype", b"float64")
    with pytest.raises(VxmFormatError, match=r"key '0w' has dtype 'float64', expected 'float32'"):
        parse_layers(read_vxm(bad))


def test_missing_layer_count(raw: bytes) -> None:
    entries = [(k, v) for k, v in _entries(raw) if k != b"layerCount\x00"]
    with pytest.raises(VxmFormatError, match=r"required key 'layerCount' is missing"):
        parse_layers(read_vxm(_build(entries)))


def test_key_without_nul(raw: bytes) -> None:
    entries = _entries(raw)
    entries[0] = (b"0Act", entries[0][1])
    with pytest.raises(VxmFormatError, match=r"key at offset 8 is not NUL-terminated"):
        read_vxm(_build(entries))


def test_unknown_activation(raw: bytes) -> None:
    bad = _replace(raw, "0Act", struct.pack("<i", 9))
    with pytest.raises(VxmFormatError, match=r"layer 0 has unknown activation 9"):
        parse_layers(read_vxm(bad))
