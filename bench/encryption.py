"""Field encryption: our service (key lookup, AAD binding, format) vs bare AES-256-GCM.

The baseline is the least any encryption could cost: one AESGCM object, a nonce, no
associated data, no format byte. Our path is what the chat path will pay per message body:
`encrypt` then `decrypt` with a per-conversation data key and table/row/field binding.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "platform")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peerlink.settings.test")

import django  # noqa: E402

django.setup()

from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from cryptography.hazmat.primitives.keywrap import aes_key_wrap  # noqa: E402

from encryption.keyring import current_keyring  # noqa: E402
from encryption.models import DataKey  # noqa: E402
from encryption.services import FieldRef, decrypt, encrypt  # noqa: E402

MESSAGES = 50_000
BODY = "I had a rough night but I went for a walk this morning and it helped a bit. " * 2


def bench_ours() -> float:
    ring = current_keyring()
    key = DataKey(
        id=uuid.uuid4(),
        purpose="conversation",
        kek_version=ring.current_version,
        wrapped_key=aes_key_wrap(ring.kek(ring.current_version), os.urandom(32)),
    )
    start = time.perf_counter()
    for i in range(MESSAGES):
        ref = FieldRef(table="messaging_message", row=str(i), field="body")
        blob = encrypt(data_key=key, plaintext=BODY, ref=ref)
        assert decrypt(data_key=key, ciphertext=blob, ref=ref) == BODY
    return time.perf_counter() - start


def bench_baseline() -> float:
    aead = AESGCM(os.urandom(32))
    data = BODY.encode()
    start = time.perf_counter()
    for _ in range(MESSAGES):
        nonce = os.urandom(12)
        blob = aead.encrypt(nonce, data, None)
        assert aead.decrypt(nonce, blob, None) == data
    return time.perf_counter() - start


def main() -> None:
    bench_ours(), bench_baseline()  # warm up caches and the allocator
    ours = min(bench_ours() for _ in range(3))
    base = min(bench_baseline() for _ in range(3))
    print(f"{'path':<28}{'msgs/s':>12}{'us/msg':>10}")
    print(
        f"{'peerlink encrypt+decrypt':<28}{MESSAGES / ours:>12,.0f}{ours / MESSAGES * 1e6:>10.1f}"
    )
    print(f"{'bare AES-GCM baseline':<28}{MESSAGES / base:>12,.0f}{base / MESSAGES * 1e6:>10.1f}")
    print(f"ratio ours/baseline throughput: {base / ours:.2f}")


if __name__ == "__main__":
    main()
