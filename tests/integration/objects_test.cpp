// Objects on the virtual token: writes reach every member (checked on the
// members themselves, with SoftHSM opened directly after C_Finalize), finds
// page and keep handles stable, and C_GetAttributeValue follows the
// specification's rules for lengths, small buffers and hidden attributes.
#include <algorithm>

#include "integration/cluster_fixture.h"
#include "integration/crypto_helpers.h"

using namespace p11c::test;

namespace {

const CK_MECHANISM kSha256Rsa{CKM_SHA256_RSA_PKCS, nullptr, 0};
const CK_MECHANISM kEcdsa{CKM_ECDSA, nullptr, 0};

// The one object of class `cls` labelled `label` on member m (REQUIREd unique).
CK_OBJECT_HANDLE onMember(DirectMembers& d, unsigned m, CK_OBJECT_CLASS cls,
                          const std::string& label) {
    auto found = findByLabel(d.p11(), d.sessions[m], cls, label);
    INFO("member " << m << ", label " << label);
    REQUIRE(found.size() == 1);
    return found[0];
}

Bytes cbcOnMember(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, Bytes iv,
                  const Bytes& plain) {
    CK_MECHANISM mech{CKM_AES_CBC_PAD, iv.data(), static_cast<CK_ULONG>(iv.size())};
    return encrypt(p11, s, mech, key, plain);
}

}  // namespace

TEST_CASE("an imported RSA key pair is stored on every member") {
    ClusterFixture f;
    f.start();
    Pkey key = generateRsa();
    KeyPair pair = importRsa(f.p11(), f.session, key.get(), "rsa-id-1", "imported-rsa");
    CHECK(attribute(f.p11(), f.session, pair.publicKey, CKA_MODULUS) == rsaModulus(key.get()));
    CHECK(attribute(f.p11(), f.session, pair.privateKey, CKA_ID) == bytesOf("rsa-id-1"));
    f.finalize();

    DirectMembers direct(f.env);
    const Bytes data = bytesOf("signed on the member itself");
    for (unsigned m = 0; m < f.env.members(); ++m) {
        INFO("member " << f.env.memberLabel(m));
        CK_SESSION_HANDLE s = direct.sessions[m];
        CK_OBJECT_HANDLE pub = onMember(direct, m, CKO_PUBLIC_KEY, "imported-rsa");
        CK_OBJECT_HANDLE priv = onMember(direct, m, CKO_PRIVATE_KEY, "imported-rsa");
        CHECK(attribute(direct.p11(), s, pub, CKA_ID) == bytesOf("rsa-id-1"));
        CHECK(attribute(direct.p11(), s, priv, CKA_ID) == bytesOf("rsa-id-1"));
        CHECK(attribute(direct.p11(), s, pub, CKA_MODULUS) == rsaModulus(key.get()));
        CHECK(attribute(direct.p11(), s, priv, CKA_MODULUS) == rsaModulus(key.get()));
        CHECK(attribute(direct.p11(), s, pub, CKA_PUBLIC_EXPONENT) == rsaPublicExponent(key.get()));
        // The private half is the same key: a signature made on this member verifies.
        Bytes sig = sign(direct.p11(), s, kSha256Rsa, priv, data);
        CHECK(opensslVerifyRsaPkcs1Sha256(key.get(), data, sig));
    }
}

TEST_CASE("an imported EC P-256 key pair is stored on every member") {
    ClusterFixture f;
    f.start();
    Pkey key = generateEcP256();
    importEc(f.p11(), f.session, key.get(), "ec-id-1", "imported-ec");
    f.finalize();

    DirectMembers direct(f.env);
    const Bytes digest = sha256(bytesOf("ecdsa on the member"));
    for (unsigned m = 0; m < f.env.members(); ++m) {
        INFO("member " << f.env.memberLabel(m));
        CK_SESSION_HANDLE s = direct.sessions[m];
        CK_OBJECT_HANDLE pub = onMember(direct, m, CKO_PUBLIC_KEY, "imported-ec");
        CK_OBJECT_HANDLE priv = onMember(direct, m, CKO_PRIVATE_KEY, "imported-ec");
        CHECK(attribute(direct.p11(), s, pub, CKA_EC_POINT) == ecPointDer(key.get()));
        CHECK(attribute(direct.p11(), s, pub, CKA_EC_PARAMS) == kP256Params);
        CHECK(attribute(direct.p11(), s, priv, CKA_EC_PARAMS) == kP256Params);
        CHECK(attribute(direct.p11(), s, priv, CKA_ID) == bytesOf("ec-id-1"));
        Bytes sig = sign(direct.p11(), s, kEcdsa, priv, digest);
        CHECK(opensslVerifyEcdsaRaw(key.get(), digest, sig));
    }
}

TEST_CASE("an imported AES-256 key is stored on every member") {
    ClusterFixture f;
    f.start();
    const Bytes value = randomBytes(32);
    Template t = aesTemplate(value, "aes-id-1", "imported-aes");
    createObject(f.p11(), f.session, t);
    f.finalize();

    DirectMembers direct(f.env);
    const Bytes iv = randomBytes(16), plain = bytesOf("the same key on every member");
    const Bytes expected = opensslAes256CbcPad(true, value, iv, plain);
    for (unsigned m = 0; m < f.env.members(); ++m) {
        INFO("member " << f.env.memberLabel(m));
        CK_SESSION_HANDLE s = direct.sessions[m];
        CK_OBJECT_HANDLE key = onMember(direct, m, CKO_SECRET_KEY, "imported-aes");
        CHECK(attribute(direct.p11(), s, key, CKA_ID) == bytesOf("aes-id-1"));
        CK_ULONG length = 0;
        CK_ATTRIBUTE len{CKA_VALUE_LEN, &length, sizeof length};
        REQUIRE_OK(direct.p11()->C_GetAttributeValue(s, key, &len, 1));
        CHECK(length == 32);
        CHECK(cbcOnMember(direct.p11(), s, key, iv, plain) == expected);
    }
}

TEST_CASE("a data object holding a certificate is stored on every member") {
    ClusterFixture f;
    f.start();
    Pkey key = generateEcP256();
    const Bytes cert = selfSignedCertificate(key.get(), "cluster test");
    Template t = dataTemplate("p11cluster-tests", "device-certificate", cert);
    CK_OBJECT_HANDLE object = createObject(f.p11(), f.session, t);
    CHECK(attribute(f.p11(), f.session, object, CKA_VALUE) == cert);
    f.finalize();

    DirectMembers direct(f.env);
    for (unsigned m = 0; m < f.env.members(); ++m) {
        INFO("member " << f.env.memberLabel(m));
        CK_OBJECT_HANDLE h = onMember(direct, m, CKO_DATA, "device-certificate");
        CHECK(attribute(direct.p11(), direct.sessions[m], h, CKA_VALUE) == cert);
        CHECK(attribute(direct.p11(), direct.sessions[m], h, CKA_APPLICATION) ==
              bytesOf("p11cluster-tests"));
    }
}

TEST_CASE("C_FindObjects pages one object at a time and handles stay the same") {
    ClusterFixture f;
    f.start();
    std::vector<CK_OBJECT_HANDLE> created;
    for (int i = 0; i < 3; ++i) {
        Template t = dataTemplate("paging", "page-" + std::to_string(i), bytesOf("v"));
        created.push_back(createObject(f.p11(), f.session, t));
    }
    Template decoy = dataTemplate("other-app", "decoy", bytesOf("x"));
    createObject(f.p11(), f.session, decoy);

    CK_OBJECT_CLASS cls = CKO_DATA;
    std::string app = "paging";
    CK_ATTRIBUTE templ[] = {{CKA_CLASS, &cls, sizeof cls},
                            {CKA_APPLICATION, app.data(), app.size()}};
    auto pageThrough = [&](CK_SESSION_HANDLE s) {
        REQUIRE_OK(f.p11()->C_FindObjectsInit(s, templ, 2));
        std::vector<CK_OBJECT_HANDLE> found;
        for (;;) {
            CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
            CK_ULONG n = 99;
            REQUIRE_OK(f.p11()->C_FindObjects(s, &h, 1, &n));
            REQUIRE(n <= 1);
            if (n == 0) break;
            found.push_back(h);
        }
        REQUIRE_OK(f.p11()->C_FindObjectsFinal(s));
        return found;
    };
    auto first = pageThrough(f.session);
    REQUIRE(first.size() == 3);
    auto sorted = first;
    std::sort(sorted.begin(), sorted.end());
    auto expected = created;
    std::sort(expected.begin(), expected.end());
    CHECK(sorted == expected);  // the handles C_CreateObject gave
    CHECK(pageThrough(f.session) == first);

    CK_SESSION_HANDLE other;
    REQUIRE_OK(f.p11()->C_OpenSession(f.slot(), CKF_SERIAL_SESSION, nullptr, nullptr, &other));
    CHECK(pageThrough(other) == first);

    CHECK(findByLabel(f.p11(), other, CKO_DATA, "page-1") ==
          std::vector<CK_OBJECT_HANDLE>{created[1]});
    CHECK(findByLabel(f.p11(), other, CKO_DATA, "no-such-label").empty());
}

TEST_CASE("C_FindObjectsInit, C_FindObjects and C_FindObjectsFinal report operation state errors") {
    ClusterFixture f;
    f.start();
    CK_OBJECT_HANDLE h;
    CK_ULONG n;
    CHECK_RV(f.p11()->C_FindObjects(f.session, &h, 1, &n), CKR_OPERATION_NOT_INITIALIZED);
    CHECK_RV(f.p11()->C_FindObjectsFinal(f.session), CKR_OPERATION_NOT_INITIALIZED);
    REQUIRE_OK(f.p11()->C_FindObjectsInit(f.session, nullptr, 0));
    CHECK_RV(f.p11()->C_FindObjectsInit(f.session, nullptr, 0), CKR_OPERATION_ACTIVE);
    REQUIRE_OK(f.p11()->C_FindObjectsFinal(f.session));
    CHECK_RV(f.p11()->C_FindObjects(f.session, &h, 1, &n), CKR_OPERATION_NOT_INITIALIZED);
}

TEST_CASE(
    "C_GetAttributeValue gives lengths, and flags small buffers, sensitive and missing "
    "attributes") {
    ClusterFixture f;
    f.start();
    Pkey key = generateRsa();
    KeyPair pair = importRsa(f.p11(), f.session, key.get(), "attr-id", "attribute-rules");
    CK_FUNCTION_LIST* p11 = f.p11();

    SECTION("a NULL pValue asks for the length") {
        CK_ATTRIBUTE t[] = {{CKA_MODULUS, nullptr, 0}, {CKA_LABEL, nullptr, 0}};
        REQUIRE_OK(p11->C_GetAttributeValue(f.session, pair.privateKey, t, 2));
        CHECK(t[0].ulValueLen == 256);
        CHECK(t[1].ulValueLen == std::string("attribute-rules").size());
    }
    SECTION("a buffer too small gives CKR_BUFFER_TOO_SMALL for that attribute only") {
        Bytes label(3), id(64);
        CK_ATTRIBUTE t[] = {{CKA_LABEL, label.data(), 3}, {CKA_ID, id.data(), 64}};
        CHECK_RV(p11->C_GetAttributeValue(f.session, pair.privateKey, t, 2), CKR_BUFFER_TOO_SMALL);
        CHECK(t[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
        REQUIRE(t[1].ulValueLen == 7);
        id.resize(7);
        CHECK(id == bytesOf("attr-id"));
    }
    SECTION("a sensitive attribute gives CKR_ATTRIBUTE_SENSITIVE, the others are returned") {
        Bytes exponent(512), modulus(256);
        CK_ATTRIBUTE t[] = {{CKA_PRIVATE_EXPONENT, exponent.data(), 512},
                            {CKA_MODULUS, modulus.data(), 256}};
        CHECK_RV(p11->C_GetAttributeValue(f.session, pair.privateKey, t, 2),
                 CKR_ATTRIBUTE_SENSITIVE);
        CHECK(t[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
        CHECK(t[1].ulValueLen == 256);
        CHECK(modulus == rsaModulus(key.get()));
    }
    SECTION("an attribute the object does not have gives CKR_ATTRIBUTE_TYPE_INVALID") {
        Bytes params(64), label(64);
        CK_ATTRIBUTE t[] = {{CKA_EC_PARAMS, params.data(), 64}, {CKA_LABEL, label.data(), 64}};
        CHECK_RV(p11->C_GetAttributeValue(f.session, pair.publicKey, t, 2),
                 CKR_ATTRIBUTE_TYPE_INVALID);
        CHECK(t[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
        REQUIRE(t[1].ulValueLen == 15);
        label.resize(15);
        CHECK(label == bytesOf("attribute-rules"));
    }
}

TEST_CASE("C_SetAttributeValue relabels the object on every member") {
    ClusterFixture f;
    f.start();
    const Bytes value = randomBytes(32);
    Template t = aesTemplate(value, "relabel-id", "old-label");
    CK_OBJECT_HANDLE key = createObject(f.p11(), f.session, t);
    std::string label = "new-label";
    CK_ATTRIBUTE set{CKA_LABEL, label.data(), label.size()};
    REQUIRE_OK(f.p11()->C_SetAttributeValue(f.session, key, &set, 1));
    CHECK(attribute(f.p11(), f.session, key, CKA_LABEL) == bytesOf(label));
    CHECK(findByLabel(f.p11(), f.session, CKO_SECRET_KEY, "new-label") ==
          std::vector<CK_OBJECT_HANDLE>{key});
    CHECK(findByLabel(f.p11(), f.session, CKO_SECRET_KEY, "old-label").empty());
    // The relabelled key still works on every member (operations rotate over them).
    const Bytes iv = randomBytes(16), plain = bytesOf("after the relabel");
    for (int i = 0; i < 6; ++i)
        CHECK(cbcOnMember(f.p11(), f.session, key, iv, plain) ==
              opensslAes256CbcPad(true, value, iv, plain));
    f.finalize();

    DirectMembers direct(f.env);
    for (unsigned m = 0; m < f.env.members(); ++m) {
        INFO("member " << f.env.memberLabel(m));
        CHECK(findByLabel(direct.p11(), direct.sessions[m], CKO_SECRET_KEY, "new-label").size() ==
              1);
        CHECK(findByLabel(direct.p11(), direct.sessions[m], CKO_SECRET_KEY, "old-label").empty());
    }
}

TEST_CASE("C_CopyObject makes the copy on every member") {
    ClusterFixture f;
    f.start();
    const Bytes value = randomBytes(32);
    Template t = aesTemplate(value, "copy-id", "original-key");
    CK_OBJECT_HANDLE original = createObject(f.p11(), f.session, t);
    std::string label = "copied-key";
    CK_ATTRIBUTE changes[] = {{CKA_LABEL, label.data(), label.size()}};
    CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;
    REQUIRE_OK(f.p11()->C_CopyObject(f.session, original, changes, 1, &copy));
    CHECK(copy != original);
    CHECK(attribute(f.p11(), f.session, copy, CKA_LABEL) == bytesOf(label));
    CHECK(attribute(f.p11(), f.session, copy, CKA_ID) == bytesOf("copy-id"));
    CHECK(findByLabel(f.p11(), f.session, CKO_SECRET_KEY, label) ==
          std::vector<CK_OBJECT_HANDLE>{copy});
    const Bytes iv = randomBytes(16), plain = bytesOf("the copy is the same key");
    for (int i = 0; i < 3; ++i)
        CHECK(cbcOnMember(f.p11(), f.session, copy, iv, plain) ==
              opensslAes256CbcPad(true, value, iv, plain));
    f.finalize();

    DirectMembers direct(f.env);
    for (unsigned m = 0; m < f.env.members(); ++m) {
        INFO("member " << f.env.memberLabel(m));
        CK_OBJECT_HANDLE h = onMember(direct, m, CKO_SECRET_KEY, "copied-key");
        onMember(direct, m, CKO_SECRET_KEY, "original-key");
        CHECK(cbcOnMember(direct.p11(), direct.sessions[m], h, iv, plain) ==
              opensslAes256CbcPad(true, value, iv, plain));
    }
}

TEST_CASE("C_DestroyObject removes the object from every member") {
    ClusterFixture f;
    f.start();
    Pkey key = generateEcP256();
    KeyPair pair = importEc(f.p11(), f.session, key.get(), "doomed-id", "doomed-key");
    REQUIRE_OK(f.p11()->C_DestroyObject(f.session, pair.privateKey));
    CHECK(findByLabel(f.p11(), f.session, CKO_PRIVATE_KEY, "doomed-key").empty());
    CK_ATTRIBUTE label{CKA_LABEL, nullptr, 0};
    CHECK_RV(f.p11()->C_GetAttributeValue(f.session, pair.privateKey, &label, 1),
             CKR_OBJECT_HANDLE_INVALID);
    CK_MECHANISM mech = kEcdsa;
    CHECK_RV(f.p11()->C_SignInit(f.session, &mech, pair.privateKey), CKR_KEY_HANDLE_INVALID);
    CHECK_RV(f.p11()->C_DestroyObject(f.session, pair.privateKey), CKR_OBJECT_HANDLE_INVALID);
    f.finalize();

    DirectMembers direct(f.env);
    for (unsigned m = 0; m < f.env.members(); ++m) {
        INFO("member " << f.env.memberLabel(m));
        CHECK(findByLabel(direct.p11(), direct.sessions[m], CKO_PRIVATE_KEY, "doomed-key").empty());
        onMember(direct, m, CKO_PUBLIC_KEY, "doomed-key");  // the other half stays
    }
}

TEST_CASE("session objects are seen from other sessions and end with their session") {
    ClusterFixture f;
    f.start();
    CK_SESSION_HANDLE owner, other;
    REQUIRE_OK(f.p11()->C_OpenSession(f.slot(), CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr,
                                      nullptr, &owner));
    REQUIRE_OK(f.p11()->C_OpenSession(f.slot(), CKF_SERIAL_SESSION, nullptr, nullptr, &other));
    const Bytes value = randomBytes(32);
    Template t = aesTemplate(value, "session-id", "ephemeral-key", /*token=*/false);
    CK_OBJECT_HANDLE key = createObject(f.p11(), owner, t);
    CK_BBOOL token = CK_TRUE;
    CK_ATTRIBUTE tokenAttr{CKA_TOKEN, &token, sizeof token};
    REQUIRE_OK(f.p11()->C_GetAttributeValue(other, key, &tokenAttr, 1));
    CHECK(token == CK_FALSE);

    CHECK(findByLabel(f.p11(), other, CKO_SECRET_KEY, "ephemeral-key") ==
          std::vector<CK_OBJECT_HANDLE>{key});
    const Bytes iv = randomBytes(16), plain = bytesOf("session key, used from another session");
    for (int i = 0; i < 3; ++i)
        CHECK(cbcOnMember(f.p11(), other, key, iv, plain) ==
              opensslAes256CbcPad(true, value, iv, plain));

    REQUIRE_OK(f.p11()->C_CloseSession(owner));
    CHECK(findByLabel(f.p11(), other, CKO_SECRET_KEY, "ephemeral-key").empty());
    CHECK(findByLabel(f.p11(), f.session, CKO_SECRET_KEY, "ephemeral-key").empty());
    CHECK_RV(f.p11()->C_GetAttributeValue(other, key, &tokenAttr, 1), CKR_OBJECT_HANDLE_INVALID);
    CK_MECHANISM mech{CKM_AES_CBC_PAD, const_cast<CK_BYTE*>(iv.data()), 16};
    CHECK_RV(f.p11()->C_EncryptInit(other, &mech, key), CKR_KEY_HANDLE_INVALID);
}

TEST_CASE("C_GetObjectSize answers for an object") {
    ClusterFixture f;
    f.start();
    Template t = dataTemplate("sizes", "sized", randomBytes(100));
    CK_OBJECT_HANDLE object = createObject(f.p11(), f.session, t);
    CK_ULONG size = 0;
    REQUIRE_OK(f.p11()->C_GetObjectSize(f.session, object, &size));
    CHECK(size != 0);
    CHECK_RV(f.p11()->C_GetObjectSize(f.session, object, nullptr), CKR_ARGUMENTS_BAD);
}

TEST_CASE("a bogus object handle gives CKR_OBJECT_HANDLE_INVALID") {
    ClusterFixture f;
    f.start();
    Template t = dataTemplate("bogus", "real-one", bytesOf("x"));
    CK_OBJECT_HANDLE real = createObject(f.p11(), f.session, t);
    for (CK_OBJECT_HANDLE bogus :
         {CK_OBJECT_HANDLE{0}, real + 1000, CK_OBJECT_HANDLE{0x7fffffff}}) {
        INFO("handle " << bogus);
        CK_ULONG size;
        CHECK_RV(f.p11()->C_GetObjectSize(f.session, bogus, &size), CKR_OBJECT_HANDLE_INVALID);
        CK_ATTRIBUTE label{CKA_LABEL, nullptr, 0};
        CHECK_RV(f.p11()->C_GetAttributeValue(f.session, bogus, &label, 1),
                 CKR_OBJECT_HANDLE_INVALID);
        std::string text = "x";
        CK_ATTRIBUTE set{CKA_LABEL, text.data(), 1};
        CHECK_RV(f.p11()->C_SetAttributeValue(f.session, bogus, &set, 1),
                 CKR_OBJECT_HANDLE_INVALID);
        CK_OBJECT_HANDLE copy;
        CHECK_RV(f.p11()->C_CopyObject(f.session, bogus, nullptr, 0, &copy),
                 CKR_OBJECT_HANDLE_INVALID);
        CHECK_RV(f.p11()->C_DestroyObject(f.session, bogus), CKR_OBJECT_HANDLE_INVALID);
    }
    CHECK(attribute(f.p11(), f.session, real, CKA_LABEL) == bytesOf("real-one"));
}
