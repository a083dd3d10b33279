"""Decompression bombs for the tests, made without ever holding the image: PNGs whose header claims
tens of thousands of pixels a side (a uniquely named module: conftest.py names clash)."""
import struct
import zlib
from functools import cache

ROWS_PER_CHUNK = 256


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, idat: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def truncated_png_bomb(width: int = 60000, height: int = 60000) -> bytes:
    """A header claiming width x height with the pixel data cut after a few zero rows: a few hundred bytes."""
    return _png(width, height, zlib.compress(bytes(4 * (width + 1)), 9))


@cache
def zero_png(width: int = 30000, height: int = 30000) -> bytes:
    """A complete, valid all-black PNG of width x height (about 1 MB for 30000 x 30000), made without
    holding or compressing the image: one chunk of zero rows is deflated once, ended with a full
    flush (which resets the compressor, so the same bytes stand for every such chunk), and repeated."""
    rows = bytes((width + 1) * ROWS_PER_CHUNK)  # each row: filter byte 0, then its zeros
    rest = bytes((width + 1) * (height % ROWS_PER_CHUNK))
    chunk = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate: the zlib header and checksum come below
    block = chunk.compress(rows) + chunk.flush(zlib.Z_FULL_FLUSH)
    last = zlib.compressobj(9, zlib.DEFLATED, -15)
    ending = last.compress(rest) + last.flush()
    checksum = 1
    for _ in range(height // ROWS_PER_CHUNK):
        checksum = zlib.adler32(rows, checksum)
    checksum = zlib.adler32(rest, checksum)
    stream = b"\x78\xda" + block * (height // ROWS_PER_CHUNK) + ending + struct.pack(">I", checksum)
    return _png(width, height, stream)
