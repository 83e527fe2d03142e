#!/usr/bin/env python3
"""Write gzip files with Python's gzip and zlib modules and the system `gzip`, for GzipTests.swift.

Usage (from the repository root): python3 Tools/make_data_fixtures.py
Needs only the standard library (and `gzip` on PATH for the two gzip_cli_* files).
Writes Tests/RecurrentTests/Fixtures/data/gzip/ (about 150 KB). Its own folder, because
make_io_fixtures.py empties Fixtures/io/ when it runs.

Every file decompresses to payload(n) for the n in its name (or to nothing), a byte string that
GzipTests.swift recomputes with the same generator, so the test needs no stored oracle. The payload
mixes what exercises each part of inflate: repeated words (short matches), byte runs (distance 1,
lengths up to 258), random bytes (literals, stored blocks), copies from up to 32768 bytes back (the
largest distance) and multi-byte UTF-8.
"""
import gzip
import os
import shutil
import struct
import subprocess
import zlib

OUT = os.path.join("Tests", "RecurrentTests", "Fixtures", "data", "gzip")
N = 40000  # more than deflate's 32 KiB window

WORDS = [b"the ", b"recurrent ", b"network ", b"gate ", b"hidden ", b"state ", b"LSTM ", b"GRU ", b"\n", b"sequence "]


def payload(n, seed=1):
    """The test bytes; GzipTests.swift's `payload(_:seed:)` is the same generator, line for line."""
    mask = (1 << 64) - 1
    x = seed
    out = bytearray()

    def step():
        nonlocal x
        x = (x * 6364136223846793005 + 1442695040888963407) & mask
        return x >> 33

    while len(out) < n:
        r = step()
        kind = r & 7
        if kind < 4:
            out += WORDS[(r >> 3) % 10]
        elif kind == 4:
            out += bytes([(r >> 3) & 0xFF]) * (1 + (r >> 11) % 300)
        elif kind == 5:
            for _ in range(12):
                out.append(step() >> 23)
        elif kind == 6 and out:
            distance = 1 + (r >> 3) % min(len(out), 32768)
            for _ in range(3 + (r >> 18) % 256):
                out.append(out[-distance])
        else:
            out += "循环网络 ".encode()
    return bytes(out[:n])


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def member(raw_deflate, data, flags=0, extra=b"", name=b"", comment=b""):
    """A gzip member around a raw deflate stream, with the optional header fields of RFC 1952."""
    header = bytearray(b"\x1f\x8b\x08" + bytes([flags]) + struct.pack("<I", 0) + b"\x00\xff")
    if flags & 0x04:
        header += struct.pack("<H", len(extra)) + extra
    if flags & 0x08:
        header += name + b"\x00"
    if flags & 0x10:
        header += comment + b"\x00"
    if flags & 0x02:
        header += struct.pack("<H", zlib.crc32(bytes(header)) & 0xFFFF)
    return bytes(header) + raw_deflate + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def raw(data, level=6, strategy=zlib.Z_DEFAULT_STRATEGY, wbits=-15, mem_level=8, flush_every=None):
    c = zlib.compressobj(level, zlib.DEFLATED, wbits, mem_level, strategy)
    if flush_every is None:
        return c.compress(data) + c.flush()
    out = b""
    for i in range(0, len(data), flush_every):  # each sync flush ends with an empty stored block
        out += c.compress(data[i:i + flush_every]) + c.flush(zlib.Z_SYNC_FLUSH)
    return out + c.flush()


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    data = payload(N)

    # gzip.compress: level 0 gives stored blocks, 1 mostly fixed-Huffman-sized matches, 6 and 9 dynamic blocks.
    for level in (0, 1, 6, 9):
        write(f"python_level{level}_{N}.gz", gzip.compress(data, compresslevel=level, mtime=0))
    write("python_empty_0.gz", gzip.compress(b"", mtime=0))

    # zlib strategies, each in a member with every optional header field.
    flags = 0x01 | 0x02 | 0x04 | 0x08 | 0x10  # FTEXT, FHCRC, FEXTRA, FNAME, FCOMMENT
    for name, stream in [("fixed", raw(data, 9, zlib.Z_FIXED)), ("huffman_only", raw(data, 6, zlib.Z_HUFFMAN_ONLY)),
                         ("rle", raw(data, 6, zlib.Z_RLE)), ("window512", raw(data, 9, wbits=-9, mem_level=1)),
                         ("sync_flush", raw(data, 6, flush_every=5000))]:
        write(f"zlib_{name}_{N}.gz", member(stream, data, flags, extra=b"RC\x02\x00hi", name="données.bin".encode(),
                                             comment=b"written by make_data_fixtures.py"))

    # Three members, the middle one empty: decompresses to the concatenation.
    write(f"multi_member_{N}.gz", gzip.compress(data[:15000], 1, mtime=0) + gzip.compress(b"", mtime=0)
          + gzip.compress(data[15000:], 9, mtime=0))

    # The system gzip stores the file name (FNAME) and its modification time, fixed here.
    source = os.path.join(OUT, "payload.bin")
    write("payload.bin", data)
    os.utime(source, (1_700_000_000, 1_700_000_000))
    for level in (1, 9):
        compressed = subprocess.run(["gzip", f"-{level}", "-c", source], check=True, capture_output=True).stdout
        write(f"gzip_cli_{level}_{N}.gz", compressed)
    os.remove(source)

    for name in sorted(os.listdir(OUT)):
        with open(os.path.join(OUT, name), "rb") as f:
            assert gzip.decompress(f.read()) == (data if not name.endswith("_0.gz") else b""), name


if __name__ == "__main__":
    main()
