// Objects the cluster did not create in this life of the module: written in
// an earlier C_Initialize ... C_Finalize, or put on every member directly.
// The cluster must recognise them on every member, and writes to them
// (relabel, destroy) must reach every member, as for objects it created in
// this life.
#include "integration/cluster_fixture.h"
#include "integration/crypto_helpers.h"

using namespace p11c::test;

namespace {

const CK_MECHANISM kEcdsa{CKM_ECDSA, nullptr, 0};

CK_RV relabel(ClusterFixture& f, CK_OBJECT_HANDLE object, const std::string& label) {
    CK_ATTRIBUTE set{CKA_LABEL, const_cast<char*>(label.data()), label.size()};
    return f.p11()->C_SetAttributeValue(f.session, object, &set, 1);
}

// How many objects of `cls` labelled `label` each member holds, seen
// directly (the cluster must be finalised).
std::vector<size_t> countsOnMembers(const SoftHsmEnv& env, CK_OBJECT_CLASS cls,
                                    const std::string& label) {
    DirectMembers direct(env);
    std::vector<size_t> counts;
    for (unsigned m = 0; m < env.members(); ++m)
        counts.push_back(findByLabel(direct.p11(), direct.sessions[m], cls, label).size());
    return counts;
}

using Counts = std::vector<size_t>;

CK_OBJECT_HANDLE theOne(ClusterFixture& f, CK_OBJECT_CLASS cls, const std::string& label) {
    auto found = findByLabel(f.p11(), f.session, cls, label);
    INFO("label " << label);
    REQUIRE(found.size() == 1);
    return found[0];
}

// Restarts the module: C_Finalize, C_Initialize, a new session, login.
void restart(ClusterFixture& f) {
    f.finalize();
    f.start();
}

// Two identical AES keys (same id, label and value) written through the
// cluster, seen in a new life of the module; returns their virtual handles.
std::vector<CK_OBJECT_HANDLE> makeTwins(ClusterFixture& f, const std::string& label) {
    f.start();
    const Bytes value = randomBytes(32);
    for (int i = 0; i < 2; ++i) {
        Template t = aesTemplate(value, "twin", label);
        createObject(f.p11(), f.session, t);
    }
    restart(f);
    auto twins = findByLabel(f.p11(), f.session, CKO_SECRET_KEY, label);
    REQUIRE(twins.size() == 2);
    return twins;
}

}  // namespace

TEST_CASE("a key written in an earlier life of the module is used on every member") {
    ClusterFixture f;
    f.start();
    Pkey key = generateEcP256();
    importEc(f.p11(), f.session, key.get(), "earlier-ec", "earlier-ec");
    restart(f);

    CK_OBJECT_HANDLE priv = theOne(f, CKO_PRIVATE_KEY, "earlier-ec");
    CK_OBJECT_HANDLE pub = theOne(f, CKO_PUBLIC_KEY, "earlier-ec");
    CHECK(theOne(f, CKO_PRIVATE_KEY, "earlier-ec") == priv);  // stable across finds
    for (int i = 0; i < 9; ++i) {
        const Bytes digest = sha256(bytesOf("next life " + std::to_string(i)));
        Bytes sig = sign(f.p11(), f.session, kEcdsa, priv, digest);
        CHECK(opensslVerifyEcdsaRaw(key.get(), digest, sig));
        CHECK_RV(verify(f.p11(), f.session, kEcdsa, pub, digest, sig), CKR_OK);
    }
}

TEST_CASE("a key with an empty CKA_ID put on every member directly is used through the cluster") {
    ClusterFixture f;
    Pkey key = generateEcP256();
    {
        DirectMembers direct(f.env);
        for (unsigned m = 0; m < f.env.members(); ++m)
            importEc(direct.p11(), direct.sessions[m], key.get(), "", "empty-id-ec");
    }
    f.start();
    CK_OBJECT_HANDLE priv = theOne(f, CKO_PRIVATE_KEY, "empty-id-ec");
    for (int i = 0; i < 9; ++i) {
        INFO("signature " << i);
        const Bytes digest = sha256(bytesOf("empty id " + std::to_string(i)));
        CK_MECHANISM m = kEcdsa;
        REQUIRE_OK(f.p11()->C_SignInit(f.session, &m, priv));
        Bytes in = digest, sig(64);
        CK_ULONG size = sig.size();
        REQUIRE_OK(f.p11()->C_Sign(f.session, in.data(), in.size(), sig.data(), &size));
        CHECK(opensslVerifyEcdsaRaw(key.get(), digest, sig));
    }
}

TEST_CASE("a key written in an earlier life is relabelled and destroyed on every member") {
    ClusterFixture f;
    f.start();
    const Bytes value = randomBytes(32);
    Template t = aesTemplate(value, "earlier-aes", "aes-before");
    createObject(f.p11(), f.session, t);
    restart(f);

    CK_OBJECT_HANDLE key = theOne(f, CKO_SECRET_KEY, "aes-before");
    REQUIRE_OK(relabel(f, key, "aes-after"));
    CHECK(theOne(f, CKO_SECRET_KEY, "aes-after") == key);
    f.finalize();
    CHECK(countsOnMembers(f.env, CKO_SECRET_KEY, "aes-after") == Counts{1, 1, 1});
    CHECK(countsOnMembers(f.env, CKO_SECRET_KEY, "aes-before") == Counts{0, 0, 0});

    f.start();
    key = theOne(f, CKO_SECRET_KEY, "aes-after");
    REQUIRE_OK(f.p11()->C_DestroyObject(f.session, key));
    CHECK(findByLabel(f.p11(), f.session, CKO_SECRET_KEY, "aes-after").empty());
    f.finalize();
    CHECK(countsOnMembers(f.env, CKO_SECRET_KEY, "aes-after") == Counts{0, 0, 0});
}

TEST_CASE("a data object written in an earlier life is relabelled on every member") {
    ClusterFixture f;
    f.start();
    Template t = dataTemplate("earlier-life", "note-before", bytesOf("a note"));
    createObject(f.p11(), f.session, t);
    restart(f);

    CK_OBJECT_HANDLE note = theOne(f, CKO_DATA, "note-before");
    CHECK_RV(relabel(f, note, "note-after"), CKR_OK);
    CHECK(findByLabel(f.p11(), f.session, CKO_DATA, "note-after").size() == 1);
    f.finalize();
    CHECK(countsOnMembers(f.env, CKO_DATA, "note-after") == Counts{1, 1, 1});
    CHECK(countsOnMembers(f.env, CKO_DATA, "note-before") == Counts{0, 0, 0});
}

TEST_CASE("a data object written in an earlier life is destroyed on every member") {
    ClusterFixture f;
    f.start();
    Template t = dataTemplate("earlier-life", "doomed-note", bytesOf("short-lived"));
    createObject(f.p11(), f.session, t);
    restart(f);

    CK_OBJECT_HANDLE note = theOne(f, CKO_DATA, "doomed-note");
    REQUIRE_OK(f.p11()->C_DestroyObject(f.session, note));
    CHECK(findByLabel(f.p11(), f.session, CKO_DATA, "doomed-note").empty());
    f.finalize();
    CHECK(countsOnMembers(f.env, CKO_DATA, "doomed-note") == Counts{0, 0, 0});
}

TEST_CASE(
    "of two identical keys from an earlier life, the cluster destroys none rather than "
    "guess") {
    // Secret keys are known by class, type, CKA_ID and CKA_LABEL (their
    // values cannot be read). Two such twins cannot be told apart on the
    // other members, so the destroy is refused whole and both stay.
    ClusterFixture f;
    auto twins = makeTwins(f, "twin-key");
    CHECK_RV(f.p11()->C_DestroyObject(f.session, twins[1]), CKR_DEVICE_ERROR);
    CHECK(findByLabel(f.p11(), f.session, CKO_SECRET_KEY, "twin-key").size() == 2);
    f.finalize();
    CHECK(countsOnMembers(f.env, CKO_SECRET_KEY, "twin-key") == Counts{2, 2, 2});
}

TEST_CASE("a data object written in an earlier life is copied to every member") {
    ClusterFixture f;
    f.start();
    Template t = dataTemplate("earlier-life", "copy-source-note", bytesOf("copy me"));
    createObject(f.p11(), f.session, t);
    restart(f);

    CK_OBJECT_HANDLE note = theOne(f, CKO_DATA, "copy-source-note");
    std::string label = "copied-note";
    CK_ATTRIBUTE changes{CKA_LABEL, label.data(), label.size()};
    CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;
    CHECK_RV(f.p11()->C_CopyObject(f.session, note, &changes, 1, &copy), CKR_OK);
    f.finalize();
    CHECK(countsOnMembers(f.env, CKO_DATA, "copied-note") == Counts{1, 1, 1});
}

TEST_CASE("a key written in an earlier life is copied to every member") {
    ClusterFixture f;
    f.start();
    Template t = aesTemplate(randomBytes(32), "copy-source", "copy-source-key");
    createObject(f.p11(), f.session, t);
    restart(f);

    CK_OBJECT_HANDLE key = theOne(f, CKO_SECRET_KEY, "copy-source-key");
    std::string label = "copied-key";
    CK_ATTRIBUTE changes{CKA_LABEL, label.data(), label.size()};
    CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;
    CHECK_RV(f.p11()->C_CopyObject(f.session, key, &changes, 1, &copy), CKR_OK);
    f.finalize();
    CHECK(countsOnMembers(f.env, CKO_SECRET_KEY, "copied-key") == Counts{1, 1, 1});
}

TEST_CASE(
    "relabelling one of two identical keys from an earlier life is refused whole, "
    "changing nothing") {
    // As with destroy: twins cannot be told apart on the other members.
    ClusterFixture f;
    auto twins = makeTwins(f, "twin-before");
    CHECK_RV(relabel(f, twins[0], "twin-after"), CKR_DEVICE_ERROR);
    f.finalize();
    // A failed write changes nothing anywhere.
    CHECK(countsOnMembers(f.env, CKO_SECRET_KEY, "twin-after") == Counts{0, 0, 0});
    CHECK(countsOnMembers(f.env, CKO_SECRET_KEY, "twin-before") == Counts{2, 2, 2});
}
