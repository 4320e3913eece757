// The member protocol's encoding of templates and mechanism parameters:
// what the client writes, the host rebuilds with its own memory.
#include <catch2/catch.hpp>

#include <cstring>

#include "remote/codec.h"

using namespace p11c::remote;

TEST_CASE("remote codec: a template with a nested wrap template survives the trip") {
    CK_BBOOL yes = CK_TRUE;
    CK_KEY_TYPE aes = CKK_AES;
    CK_MECHANISM_TYPE allowed[] = {CKM_AES_GCM, CKM_AES_CBC};
    CK_ATTRIBUTE inner[] = {{CKA_KEY_TYPE, &aes, sizeof aes}, {CKA_EXTRACTABLE, &yes, 1}};
    char label[] = "label";
    CK_ATTRIBUTE outer[] = {{CKA_LABEL, label, 5},
                            {CKA_WRAP_TEMPLATE, inner, sizeof inner},
                            {CKA_ALLOWED_MECHANISMS, allowed, sizeof allowed},
                            {CKA_ID, nullptr, 0}};
    Writer w;
    writeTemplate(w, outer, 4);
    Reader r(w.buffer().data(), w.buffer().size());
    HostTemplate t;
    REQUIRE(t.read(r, false));
    REQUIRE(r.atEnd());
    REQUIRE(t.count() == 4);
    CHECK(std::memcmp(t.data()[0].pValue, "label", 5) == 0);
    REQUIRE(t.data()[1].ulValueLen == sizeof inner);
    auto* copy = static_cast<CK_ATTRIBUTE*>(t.data()[1].pValue);
    CHECK(copy[0].type == CKA_KEY_TYPE);
    CHECK(*static_cast<CK_KEY_TYPE*>(copy[0].pValue) == CKK_AES);
    CHECK(copy[1].pValue != inner[1].pValue);  // the host's own memory
    CHECK(std::memcmp(t.data()[2].pValue, allowed, sizeof allowed) == 0);
    CHECK(t.data()[3].pValue == nullptr);
}

TEST_CASE("remote codec: a query is answered with lengths and the values that fit") {
    CK_BYTE small[2], big[16];
    CK_ATTRIBUTE query[] = {{CKA_LABEL, nullptr, 0}, {CKA_ID, small, 2}, {CKA_VALUE, big, 16}};
    Writer w;
    writeTemplateQuery(w, query, 3);
    Reader r(w.buffer().data(), w.buffer().size());
    HostTemplate t;
    REQUIRE(t.read(r, true));
    // The token answers: label length 7, id too long for 2 bytes, value 4 bytes.
    t.data()[0].ulValueLen = 7;
    t.data()[1].ulValueLen = CK_UNAVAILABLE_INFORMATION;
    std::memcpy(t.data()[2].pValue, "\x01\x02\x03\x04", 4);
    t.data()[2].ulValueLen = 4;
    Writer answer;
    t.writeAnswer(answer);
    Reader back(answer.buffer().data(), answer.buffer().size());
    readTemplateAnswer(back, query, 3, {0, 2, 16});
    REQUIRE(back.ok());
    CHECK(query[0].ulValueLen == 7);
    CHECK(query[1].ulValueLen == CK_UNAVAILABLE_INFORMATION);
    CHECK(query[2].ulValueLen == 4);
    CHECK(std::memcmp(big, "\x01\x02\x03\x04", 4) == 0);
}

TEST_CASE("remote codec: mechanism parameters with pointers are rebuilt on the host") {
    CK_BYTE label[] = {'L', 'B', 'L'};
    CK_RSA_PKCS_OAEP_PARAMS oaep{CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, label, 3};
    CK_RSA_AES_KEY_WRAP_PARAMS wrap{256, &oaep};
    CK_MECHANISM mech{CKM_RSA_AES_KEY_WRAP, &wrap, sizeof wrap};
    Writer w;
    REQUIRE(writeMechanism(w, &mech));
    Reader r(w.buffer().data(), w.buffer().size());
    HostMechanism host;
    REQUIRE(host.read(r));
    REQUIRE(r.atEnd());
    auto* copy = static_cast<CK_RSA_AES_KEY_WRAP_PARAMS*>(host.get()->pParameter);
    CHECK(copy->ulAESKeyBits == 256);
    REQUIRE(copy->pOAEPParams != nullptr);
    CHECK(copy->pOAEPParams != &oaep);
    CHECK(copy->pOAEPParams->hashAlg == CKM_SHA256);
    CHECK(copy->pOAEPParams->ulSourceDataLen == 3);
    CHECK(std::memcmp(copy->pOAEPParams->pSourceData, "LBL", 3) == 0);

    // A plain parameter (an IV) is bytes; a wrong-size pointer structure is refused.
    CK_BYTE iv[16] = {1, 2, 3};
    CK_MECHANISM cbc{CKM_AES_CBC_PAD, iv, sizeof iv};
    Writer w2;
    REQUIRE(writeMechanism(w2, &cbc));
    Reader r2(w2.buffer().data(), w2.buffer().size());
    HostMechanism host2;
    REQUIRE(host2.read(r2));
    CHECK(host2.get()->ulParameterLen == 16);
    CHECK(std::memcmp(host2.get()->pParameter, iv, 16) == 0);
    CK_MECHANISM bad{CKM_AES_GCM, iv, sizeof iv};
    Writer w3;
    CHECK_FALSE(writeMechanism(w3, &bad));
}

TEST_CASE("remote codec: truncated input is refused, never read past") {
    CK_BYTE value[] = {1, 2, 3, 4};
    CK_ATTRIBUTE attrs[] = {{CKA_VALUE, value, 4}};
    Writer w;
    writeTemplate(w, attrs, 1);
    for (size_t cut = 0; cut < w.buffer().size(); ++cut) {
        Reader r(w.buffer().data(), cut);
        HostTemplate t;
        CHECK_FALSE(t.read(r, false));
    }
}
