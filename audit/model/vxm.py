"""Read and validate Twitter's ``.vxm`` model container and turn it into layer specs.

The container (../shared/docs/fastgaze.md, section 1) is a little-endian key/value list:
magic ``01 74 50 4D``, a uint32 entry count, then per entry a uint32 key length, the
NUL-terminated key, a uint32 value length and the value bytes. Every length and every
typed value is checked; any problem raises :class:`audit.exceptions.VxmFormatError`
saying which key or offset is wrong and what was expected.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from audit.exceptions import VxmFormatError

MAGIC = b"\x01\x74\x50\x4d"
#: Layer type codes used by the program.
TYPE_CONV, TYPE_POOL, TYPE_BLUR = 0, 2, 3
#: Activation codes: 1 = ReLU, 4 = leaky ReLU with the layer's ``alpha``.
ACT_RELU, ACT_LEAKY = 1, 4

_MSG_MAGIC = "{src}: not a .vxm file: magic bytes are {got}, expected 01 74 50 4d"
_MSG_SHORT = ("{src}: truncated at offset {offset}: needed {need} bytes for {what}, "
              "only {have} left; re-download the weights")
_MSG_KEY_NUL = "{src}: key at offset {offset} is not NUL-terminated ({key!r})"
_MSG_DUP = "{src}: key {key!r} appears twice (second at offset {offset})"
_MSG_TRAILING = "{src}: {n} trailing bytes after the last of {count} entries (offset {offset})"
_MSG_MISSING = "{src}: required key {key!r} is missing"
_MSG_INT = "{src}: key {key!r} must hold one int32 (4 bytes), got {n} bytes"
_MSG_DTYPE = "{src}: key {key!r} has dtype {got!r}, expected 'float32'"
_MSG_SHAPE = ("{src}: key {key!r} holds {nbytes} bytes = {nvals} float32 values but its shape "
              "{shape} needs {need}")
_MSG_NDIMS = "{src}: key {key!r} declares ndims={ndims} but its shape has {n} dimensions"
_MSG_BAD_SHAPE = "{src}: key {key!r}.shape has invalid dimensions {shape}"
_MSG_TYPE = "{src}: layer {i} has unknown type {t} (key '{i}Type'); known: 0 conv, 2 pool, 3 blur"
_MSG_ACT = "{src}: layer {i} has unknown activation {a} (key '{i}Act'); known: 1 ReLU, 4 leaky"
_MSG_LAYER = "{src}: layer {i}: {what}"
_MSG_COUNT = "{src}: layerCount is {n}, must be >= 1"


@dataclass(frozen=True)
class ConvSpec:
    """A convolution layer: same padding, stride 1, then its activation."""

    weight: npt.NDArray[np.float32] = field(repr=False)  # (out, in, kh, kw)
    bias: npt.NDArray[np.float32] = field(repr=False)  # (out,)
    activation: str  # "relu" | "leaky_relu"
    alpha: float = 0.0


@dataclass(frozen=True)
class PoolSpec:
    """A max-pooling layer (size x size, stride size, ceil mode)."""

    size: int


@dataclass(frozen=True)
class BlurSpec:
    """The trailing Gaussian blur; parsed but never applied by the program."""

    kernel_size: int
    std: int


LayerSpec = ConvSpec | PoolSpec | BlurSpec


@dataclass(frozen=True)
class VxmFile:
    """A parsed ``.vxm`` container: raw entry bytes by key, plus typed accessors.

    Attributes
    ----------
    entries : mapping of str to bytes
        Every entry, in file order.
    source : str
        Where it came from (a path, or ``"<bytes>"``), used in error messages.
    """

    entries: Mapping[str, bytes]
    source: str = "<bytes>"

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def raw(self, key: str) -> bytes:
        """Raw value bytes of ``key``; VxmFormatError if missing."""
        try:
            return self.entries[key]
        except KeyError:
            raise VxmFormatError(_MSG_MISSING.format(src=self.source, key=key)) from None

    def get_int(self, key: str) -> int:
        """Read a 4-byte little-endian int32 value."""
        value = self.raw(key)
        if len(value) != 4:
            raise VxmFormatError(_MSG_INT.format(src=self.source, key=key, n=len(value)))
        return struct.unpack("<i", value)[0]

    def get_str(self, key: str) -> str:
        """Read a text value (trailing NULs removed)."""
        return self.raw(key).rstrip(b"\x00").decode("ascii", errors="replace")

    def get_shape(self, key: str) -> tuple[int, ...]:
        """Read the declared shape of array ``key`` from its ``.shape`` / ``.shape[i]`` siblings."""
        if f"{key}.shape.listlength" in self.entries:
            n = self.get_int(f"{key}.shape.listlength")
            shape = tuple(self.get_int(f"{key}.shape[{i}]") for i in range(n))
        else:
            shape = (self.get_int(f"{key}.shape"),)
        if any(d < 0 for d in shape):
            raise VxmFormatError(_MSG_BAD_SHAPE.format(src=self.source, key=key, shape=shape))
        if f"{key}.ndims" in self.entries:
            ndims = self.get_int(f"{key}.ndims")
            if ndims != len(shape):
                raise VxmFormatError(_MSG_NDIMS.format(
                    src=self.source, key=key, ndims=ndims, n=len(shape)))
        return shape

    def get_array(self, key: str) -> npt.NDArray[np.float32]:
        """Read a float32 array, checked against its dtype and shape metadata."""
        dtype = self.get_str(f"{key}.dtype")
        if dtype != "float32":
            raise VxmFormatError(_MSG_DTYPE.format(src=self.source, key=key, got=dtype))
        shape = self.get_shape(key)
        value = self.raw(key)
        need = int(np.prod(shape, dtype=np.int64))
        if len(value) % 4 or len(value) // 4 != need:
            raise VxmFormatError(_MSG_SHAPE.format(
                src=self.source, key=key, nbytes=len(value), nvals=len(value) / 4,
                shape=shape, need=need))
        return np.frombuffer(value, dtype="<f4").astype(np.float32).reshape(shape)


def _take(data: bytes, offset: int, n: int, what: str, src: str) -> bytes:
    if offset + n > len(data):
        raise VxmFormatError(_MSG_SHORT.format(
            src=src, offset=offset, need=n, what=what, have=len(data) - offset))
    return data[offset:offset + n]


def read_vxm(source: str | Path | bytes) -> VxmFile:
    """Parse and validate a ``.vxm`` container.

    Parameters
    ----------
    source : str, Path or bytes
        A file path or the file's bytes.

    Returns
    -------
    VxmFile
        All entries by key (only the container structure is checked here; see
        :func:`parse_layers` for the model).

    Raises
    ------
    VxmFormatError
        Bad magic, a length running past the end, a key without NUL, a duplicate key or
        trailing bytes.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data, src = bytes(source), "<bytes>"
    else:
        src = str(source)
        data = Path(source).read_bytes()
    magic = _take(data, 0, 4, "the magic number", src)
    if magic != MAGIC:
        raise VxmFormatError(_MSG_MAGIC.format(src=src, got=magic.hex(" ")))
    (count,) = struct.unpack("<I", _take(data, 4, 4, "the entry count", src))
    offset = 8
    entries: dict[str, bytes] = {}
    for index in range(count):
        (klen,) = struct.unpack("<I", _take(data, offset, 4, f"the key length of entry {index}",
                                            src))
        key_bytes = _take(data, offset + 4, klen, f"the key of entry {index}", src)
        if klen == 0 or key_bytes[-1:] != b"\x00" or b"\x00" in key_bytes[:-1]:
            raise VxmFormatError(_MSG_KEY_NUL.format(src=src, offset=offset, key=key_bytes))
        key = key_bytes[:-1].decode("ascii", errors="replace")
        if key in entries:
            raise VxmFormatError(_MSG_DUP.format(src=src, key=key, offset=offset))
        offset += 4 + klen
        (vlen,) = struct.unpack("<I", _take(data, offset, 4, f"the value length of {key!r}",
                                            src))
        entries[key] = _take(data, offset + 4, vlen, f"the value of {key!r}", src)
        offset += 4 + vlen
    if offset != len(data):
        raise VxmFormatError(_MSG_TRAILING.format(
            src=src, n=len(data) - offset, count=count, offset=offset))
    return VxmFile(entries, src)


def parse_layers(vxm: VxmFile) -> list[LayerSpec]:
    """Turn the container's layer keys into typed layer specs, in network order.

    Raises
    ------
    VxmFormatError
        ``layerCount``/``modelType`` missing, an unknown layer type or activation, a weight
        whose shape does not fit its layer, or any array/metadata mismatch.
    """
    src = vxm.source
    count = vxm.get_int("layerCount")
    vxm.get_int("modelType")
    if count < 1:
        raise VxmFormatError(_MSG_COUNT.format(src=src, n=count))
    layers: list[LayerSpec] = []
    for i in range(count):
        kind = vxm.get_int(f"{i}Type")
        if kind == TYPE_CONV:
            weight, bias = vxm.get_array(f"{i}w"), vxm.get_array(f"{i}b")
            if weight.ndim != 4 or bias.shape != (weight.shape[0],):
                raise VxmFormatError(_MSG_LAYER.format(
                    src=src, i=i, what=f"weight shape {weight.shape} (expected out,in,kh,kw) "
                    f"does not match bias shape {bias.shape}"))
            if weight.shape[2] % 2 == 0 or weight.shape[3] % 2 == 0:
                raise VxmFormatError(_MSG_LAYER.format(
                    src=src, i=i, what=f"kernel {weight.shape[2:]} must have odd sides"))
            prev = next((p for p in reversed(layers) if isinstance(p, ConvSpec)), None)
            if prev is not None and prev.weight.shape[0] != weight.shape[1]:
                raise VxmFormatError(_MSG_LAYER.format(
                    src=src, i=i, what=f"takes {weight.shape[1]} channels but the previous "
                    f"convolution gives {prev.weight.shape[0]}"))
            act = vxm.get_int(f"{i}Act")
            if act == ACT_RELU:
                layers.append(ConvSpec(weight, bias, "relu"))
            elif act == ACT_LEAKY:
                alpha = vxm.get_array(f"{i}alpha")
                if alpha.size != 1:
                    raise VxmFormatError(_MSG_LAYER.format(
                        src=src, i=i, what=f"alpha must hold 1 value, got {alpha.size}"))
                layers.append(ConvSpec(weight, bias, "leaky_relu", float(alpha.reshape(-1)[0])))
            else:
                raise VxmFormatError(_MSG_ACT.format(src=src, i=i, a=act))
        elif kind == TYPE_POOL:
            size = vxm.get_int(f"{i}Pool")
            if size < 1:
                raise VxmFormatError(_MSG_LAYER.format(
                    src=src, i=i, what=f"pool size must be >= 1, got {size}"))
            layers.append(PoolSpec(size))
        elif kind == TYPE_BLUR:
            layers.append(BlurSpec(vxm.get_int(f"{i}KernelSize"), vxm.get_int(f"{i}Std")))
        else:
            raise VxmFormatError(_MSG_TYPE.format(src=src, i=i, t=kind))
    return layers


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
