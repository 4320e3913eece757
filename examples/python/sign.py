#!/usr/bin/python3
"""Signs a file with a key of the p11cluster token, through PyKCS11
(Debian package python3-pykcs11).

    P11_PIN=... ./sign.py MODULE TOKEN_LABEL KEY_LABEL IN_FILE OUT_SIG

MODULE is libp11cluster.so (e.g. /usr/local/lib/libp11cluster.so); the
cluster's configuration comes from P11CLUSTER_CONF or
/etc/p11cluster/p11cluster.toml. An RSA key signs with SHA256-RSA-PKCS
(RSASSA-PKCS1-v1_5), an EC key with ECDSA over the SHA-256 digest; EC
signatures are written DER-encoded, as openssl expects them:

    openssl dgst -sha256 -verify pub.pem -signature OUT_SIG IN_FILE
"""
import hashlib
import os
import sys

import PyKCS11


def der_integer(value: bytes) -> bytes:
    value = value.lstrip(b"\0") or b"\0"
    if value[0] & 0x80:
        value = b"\0" + value
    return b"\x02" + bytes([len(value)]) + value


def ecdsa_der(raw: bytes) -> bytes:
    """CKM_ECDSA gives r || s; openssl wants SEQUENCE { INTEGER r, INTEGER s }."""
    half = len(raw) // 2
    body = der_integer(raw[:half]) + der_integer(raw[half:])
    return b"\x30" + bytes([len(body)]) + body  # short form: up to P-384


def main() -> int:
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    module, token_label, key_label, in_file, out_sig = sys.argv[1:]
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    slots = [s for s in lib.getSlotList(tokenPresent=True)
             if lib.getTokenInfo(s).label.strip() == token_label]
    if not slots:
        print(f"no token labelled {token_label}", file=sys.stderr)
        return 1
    session = lib.openSession(slots[0], PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
    session.login(os.environ["P11_PIN"])
    try:
        keys = session.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
                                    (PyKCS11.CKA_LABEL, key_label)])
        if len(keys) != 1:
            print(f"{len(keys)} private keys labelled {key_label}", file=sys.stderr)
            return 1
        key = keys[0]
        key_type = session.getAttributeValue(key, [PyKCS11.CKA_KEY_TYPE])[0]
        with open(in_file, "rb") as f:
            data = f.read()
        if key_type == PyKCS11.CKK_RSA:
            signature = bytes(session.sign(key, data, PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS)))
        elif key_type == PyKCS11.CKK_EC:
            digest = hashlib.sha256(data).digest()
            signature = ecdsa_der(bytes(session.sign(key, digest, PyKCS11.Mechanism(PyKCS11.CKM_ECDSA))))
        else:
            print(f"{key_label}: key type {key_type} not handled here", file=sys.stderr)
            return 1
        with open(out_sig, "wb") as f:
            f.write(signature)
        print(f"{key_label}: {len(signature)}-byte signature written to {out_sig}")
        return 0
    finally:
        session.logout()
        session.closeSession()


if __name__ == "__main__":
    sys.exit(main())
