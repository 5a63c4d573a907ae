"""Field encryption: our service (key lookup, AAD binding, format) vs bare AES-256-GCM.

The baseline is the least any encryption could cost: one AESGCM object, a nonce, no
associated data, no format byte. Our path is what the chat path will pay per message body:
`encrypt` then `decrypt` with a per-conversation data key and table/row/field binding.

    python bench/encryption.py [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

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


def figures(seconds: float) -> dict[str, float]:
    return {
        "seconds": seconds,
        "per_second": MESSAGES / seconds,
        "us_per_message": seconds / MESSAGES * 1e6,
    }


def print_report(data: dict[str, Any]) -> None:
    ours, base = data["ours"], data["baseline"]
    print(f"{'path':<28}{'msgs/s':>12}{'us/msg':>10}")
    print(
        f"{'peerlink encrypt+decrypt':<28}{ours['per_second']:>12,.0f}"
        f"{ours['us_per_message']:>10.1f}"
    )
    print(
        f"{'bare AES-GCM baseline':<28}{base['per_second']:>12,.0f}{base['us_per_message']:>10.1f}"
    )
    print(f"ratio ours/baseline throughput: {base['seconds'] / ours['seconds']:.2f}")


def summary(data: dict[str, Any]) -> list[dict[str, Any]]:
    """bench/run.py's summary rows, from what `--json` wrote."""
    ours, base = data["ours"]["per_second"], data["baseline"]["per_second"]
    return [
        {
            "benchmark": "encryption",
            "figure": "encrypt + decrypt, vs bare AES-256-GCM",
            "ours": ours,
            "baseline": base,
            "unit": "msgs/s",
            "ratio": ours / base,
        }
    ]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args(argv)
    bench_ours(), bench_baseline()  # warm up caches and the allocator
    ours = min(bench_ours() for _ in range(3))
    base = min(bench_baseline() for _ in range(3))
    data = {"messages": MESSAGES, "ours": figures(ours), "baseline": figures(base)}
    print_report(data)
    if options.json is not None:
        options.json.write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
