"""diffax.features._weights.sha256: chunked, cached, and re-hashed when the file changes."""

import hashlib
import os

from diffax.features._weights import sha256


def test_hash_is_the_files_sha256_and_follows_rewrites(tmp_path):
    path = tmp_path / "w.npz"
    data = os.urandom(3 * (1 << 20) + 17)  # several 1 MiB chunks and a remainder
    path.write_bytes(data)
    assert sha256(str(path)) == hashlib.sha256(data).hexdigest()
    assert sha256(str(path)) == hashlib.sha256(data).hexdigest()  # cached
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    os.utime(path, ns=(0, 12345))  # a new mtime even on coarse-timestamp filesystems
    assert sha256(str(path)) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sha256(str(path)) != hashlib.sha256(data).hexdigest()
