"""Merkle trees in the RFC 6962 (Certificate Transparency) shape.

Chosen because outsiders already have tools for it: leaves are hashed with a
0x00 prefix and inner nodes with 0x01, so a leaf can never pass for a node, and
inclusion proofs are the standard audit paths.
"""

from __future__ import annotations

import hashlib


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly below ``n`` (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root_of(leaf_hashes: list[bytes]) -> bytes:
    """Merkle tree hash of already-hashed leaves; the empty tree is SHA-256 of nothing."""
    if not leaf_hashes:
        return hashlib.sha256(b"").digest()
    level = list(leaf_hashes)
    # Iterative RFC 6962 construction: pairing left to right and carrying an odd
    # last node upwards yields the same root as the recursive split definition.
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def inclusion_proof(index: int, leaf_hashes: list[bytes]) -> list[bytes]:
    """Audit path for leaf ``index`` (RFC 6962 section 2.1.1)."""
    if not 0 <= index < len(leaf_hashes):
        raise IndexError("leaf index out of range")
    if len(leaf_hashes) == 1:
        return []
    k = _split(len(leaf_hashes))
    if index < k:
        return [*inclusion_proof(index, leaf_hashes[:k]), root_of(leaf_hashes[k:])]
    return [*inclusion_proof(index - k, leaf_hashes[k:]), root_of(leaf_hashes[:k])]


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> bool:
    """Check an audit path against a root (RFC 9162 section 2.1.3.2)."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root
