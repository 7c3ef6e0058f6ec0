#!/usr/bin/env python3
"""Regenerate fernet_fixtures.json: simple_crypto rows made the way Barbican
makes them, with Python's cryptography.fernet (Debian python3-cryptography).

    python3 gen_fixtures.py > fernet_fixtures.json

Each case has the configured master KEKs (first = active), the kek_data
plugin_meta (a pKEK from Fernet.generate_key() wrapped as a Fernet token), the
pKEK text itself, and a secret token under that pKEK plus its plaintext.
Tokens carry fixed timestamps, some years in the past, because Barbican
decrypts without a TTL.
"""
import base64
import json
import sys

from cryptography.fernet import Fernet

DEVSTACK_KEK = "dGhpcnR5X3R3b19ieXRlX2tleWJsYWhibGFoYmxhaGg="
T_2016 = 1457000000  # 2016-03-03: long before any TTL would allow
T_2024 = 1717000000


def case(name, keks, wrap_with, plaintext, wrap_time, secret_time):
    pkek = Fernet.generate_key()  # what bind_kek_metadata generates
    plugin_meta = Fernet(wrap_with).encrypt_at_time(pkek, wrap_time)
    token = Fernet(pkek).encrypt_at_time(plaintext, secret_time)
    return {
        "name": name,
        "keks": keks,
        "plugin_meta": plugin_meta.decode("ascii"),
        "pkek": pkek.decode("ascii"),
        "plaintext_b64": base64.b64encode(plaintext).decode("ascii"),
        "cypher_text": token.decode("ascii"),
        # encrypted_data.cypher_text as Barbican stores it
        "db_cypher_text": base64.b64encode(token).decode("ascii"),
    }


def main():
    active = Fernet.generate_key().decode("ascii")
    old = Fernet.generate_key().decode("ascii")
    cases = [
        case("a pKEK under a random KEK decrypts a text secret",
             [active], active, b"my-secret-passphrase", T_2024, T_2024),
        case("devstack's well-known KEK wraps the pKEK",
             [DEVSTACK_KEK], DEVSTACK_KEK, b"devstack secret", T_2016, T_2016),
        case("the pKEK was wrapped by the second, retired KEK",
             [active, old], old, bytes(range(256)), T_2016, T_2024),
        case("a payload of exactly one block gets a full padding block",
             [active], active, b"0123456789abcdef", T_2024, T_2016),
        case("a 256-bit AES key from an order",
             [active, DEVSTACK_KEK], DEVSTACK_KEK,
             bytes.fromhex("603deb1015ca71be2b73aef0857d7781"
                           "1f352c073b6108d72d9810a30914dff4"),
             T_2016, T_2016),
    ]
    json.dump({"generator": "gen_fixtures.py (cryptography.fernet)",
               "cases": cases}, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
