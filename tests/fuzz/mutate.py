"""A small deterministic mutator for the in-process replay in ``tests/integration/test_fuzz.py``: no coverage feedback,
no atheris, the same inputs on every run. It applies libFuzzer's basic mutations (flip, insert, erase,
copy, dictionary tokens, splice) so that the replay reaches the error paths near the seeds."""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Iterator
from pathlib import Path


def load_dictionary(path: Path) -> list[bytes]:
    """Tokens of a libFuzzer dictionary (``kw="..."`` lines, ``\\xNN`` escapes)."""
    if not path.is_file():
        return []
    tokens = []
    for line in path.read_text("ascii").splitlines():
        match = re.fullmatch(r'\s*\w*\s*=?\s*"(.*)"\s*', line)
        if match:
            tokens.append(re.sub(rb"\\x([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]),
                                 match.group(1).encode().replace(b'\\"', b'"').replace(b"\\\\", b"\\")))
    return tokens


def mutate(data: bytes, rng: random.Random, tokens: list[bytes], others: list[bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        at = rng.randint(0, len(out))
        if op == 0 and out:  # flip a bit
            at = min(at, len(out) - 1)
            out[at] ^= 1 << rng.randrange(8)
        elif op == 1 and out:  # set a byte
            out[min(at, len(out) - 1)] = rng.choice((0, 0xFF, 0x7F, 0x80, 0x0A, 0x0D, 0x25, rng.randrange(256)))
        elif op == 2:  # insert random bytes
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 3 and out:  # erase a range
            out[at:at + rng.randint(1, 16)] = b""
        elif op == 4 and out:  # copy a range elsewhere
            start = rng.randrange(len(out))
            chunk = out[start:start + rng.randint(1, 64)]
            out[at:at] = chunk
        elif op in (5, 6) and tokens:  # insert or overwrite with a dictionary token
            token = rng.choice(tokens)
            out[at:at + (len(token) if op == 6 else 0)] = token
        elif op == 7 and others:  # splice with another input
            other = rng.choice(others)
            cut = rng.randint(0, len(other))
            out = out[:at] + bytearray(other[cut:])
    return bytes(out)


def mutations(seeds: list[bytes], count: int, name: str, tokens: list[bytes]) -> Iterator[bytes]:
    """``count`` mutants of ``seeds``, the same ones for the same arguments."""
    rng = random.Random(zlib.crc32(name.encode()))
    if not seeds:
        seeds = [b""]
    for _ in range(count):
        yield mutate(rng.choice(seeds), rng, tokens, seeds)
