#!/usr/bin/python3
"""PyKCS11 against the cluster, for tests/consumers/pykcs11.sh.

    pykcs11_checks.py CLUSTER_MODULE TOKEN_LABEL SOFTHSM_MODULE MEMBER_TOKEN_LABEL

Generates an RSA and an EC key pair and an AES key on the cluster's token;
checks attribute answers (a key's own attributes, one it does not have and
a vendor attribute: both unavailable, as PyKCS11 gets them one per call after
CKR_ATTRIBUTE_TYPE_INVALID); encrypts with AES-GCM through the cluster
(PyKCS11 asks the length with a NULL buffer first) and decrypts on one member
token opened directly with SoftHSM, and through the cluster; a changed
ciphertext is refused as the member itself refuses it. PIN from P11_PIN.
"""
import os
import sys

import PyKCS11
from PyKCS11 import LowLevel

P = PyKCS11


def open_token(module, label, pin):
    lib = P.PyKCS11Lib()
    lib.load(module)
    slots = [s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == label]
    assert len(slots) == 1, f"{len(slots)} tokens labelled {label}"
    session = lib.openSession(slots[0], P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION)
    session.login(pin)
    return lib, session


def main():
    cluster_module, token, softhsm, member_token = sys.argv[1:5]
    pin = os.environ["P11_PIN"]
    lib, s = open_token(cluster_module, token, pin)

    pub, priv = s.generateKeyPair(
        [(P.CKA_TOKEN, True), (P.CKA_LABEL, "py-rsa"), (P.CKA_ID, b"\x51"),
         (P.CKA_MODULUS_BITS, 2048), (P.CKA_PUBLIC_EXPONENT, (1, 0, 1)), (P.CKA_VERIFY, True)],
        [(P.CKA_TOKEN, True), (P.CKA_LABEL, "py-rsa"), (P.CKA_ID, b"\x51"), (P.CKA_PRIVATE, True),
         (P.CKA_SENSITIVE, True), (P.CKA_SIGN, True)],
        mecha=P.MechanismRSAGENERATEKEYPAIR)
    p256 = bytes.fromhex("06082a8648ce3d030107")
    s.generateKeyPair(
        [(P.CKA_TOKEN, True), (P.CKA_LABEL, "py-ec"), (P.CKA_ID, b"\x52"),
         (P.CKA_KEY_TYPE, P.CKK_EC), (P.CKA_EC_PARAMS, p256), (P.CKA_VERIFY, True)],
        [(P.CKA_TOKEN, True), (P.CKA_LABEL, "py-ec"), (P.CKA_ID, b"\x52"), (P.CKA_KEY_TYPE, P.CKK_EC),
         (P.CKA_PRIVATE, True), (P.CKA_SENSITIVE, True), (P.CKA_SIGN, True)],
        mecha=P.MechanismECGENERATEKEYPAIR)
    aes = s.generateKey(
        [(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_KEY_TYPE, P.CKK_AES), (P.CKA_VALUE_LEN, 32),
         (P.CKA_TOKEN, True), (P.CKA_PRIVATE, True), (P.CKA_LABEL, "py-aes"), (P.CKA_ID, b"\x53"),
         (P.CKA_ENCRYPT, True), (P.CKA_DECRYPT, True)],
        mecha=P.Mechanism(P.CKM_AES_KEY_GEN))
    print("generated py-rsa, py-ec, py-aes")

    # Attributes: its own, one a private key does not have, a vendor one.
    vendor = P.CKA_VENDOR_DEFINED | 0x7A11
    label, bits, vend = s.getAttributeValue(priv, [P.CKA_LABEL, P.CKA_MODULUS_BITS, vendor])
    assert label == "py-rsa", label
    assert bits is None and vend is None, (bits, vend)
    assert len(bytes(s.getAttributeValue(pub, [P.CKA_MODULUS])[0])) == 256
    # The same one attribute per call, the way PyKCS11 falls back: lengths first.
    t = LowLevel.ckattrlist(1)
    t[0].SetType(P.CKA_MODULUS_BITS)
    rv = lib.lib.C_GetAttributeValue(s.session, priv, t)
    assert rv == P.CKR_ATTRIBUTE_TYPE_INVALID, P.CKR[rv]
    print("attributes: present ones answered, absent and vendor ones CKR_ATTRIBUTE_TYPE_INVALID")

    # AES-GCM through the cluster; decrypted on a member directly.
    iv, aad = os.urandom(12), b"header"
    plain = os.urandom(1000)
    gcm = P.AES_GCM_Mechanism(iv, aad, 128)
    cipher = bytes(s.encrypt(aes, plain, gcm))
    assert len(cipher) == len(plain) + 16
    assert bytes(s.decrypt(aes, cipher, P.AES_GCM_Mechanism(iv, aad, 128))) == plain
    mlib, m = open_token(softhsm, member_token, pin)
    member_aes = m.findObjects([(P.CKA_CLASS, P.CKO_SECRET_KEY), (P.CKA_LABEL, "py-aes")])
    assert len(member_aes) == 1, f"{len(member_aes)} py-aes on {member_token}"
    assert bytes(m.decrypt(member_aes[0], cipher, P.AES_GCM_Mechanism(iv, aad, 128))) == plain

    # A changed ciphertext is refused with the member's own answer (SoftHSM
    # 2.6.1 says CKR_GENERAL_ERROR for a wrong tag).
    changed = bytearray(cipher)
    changed[5] ^= 1
    answers = []
    for session, key in ((s, aes), (m, member_aes[0])):
        try:
            session.decrypt(key, bytes(changed), P.AES_GCM_Mechanism(iv, aad, 128))
            raise AssertionError("a changed AES-GCM ciphertext decrypted")
        except P.PyKCS11Error as e:
            answers.append(e.value)
    assert answers[0] == answers[1], [P.CKR[a] for a in answers]
    m.logout()
    m.closeSession()
    print(f"AES-GCM: encrypted through the cluster, decrypted through it and on {member_token}")
    s.logout()
    s.closeSession()


if __name__ == "__main__":
    main()
