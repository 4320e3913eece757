#include "replication/transport.h"

#include <cstring>
#include <string>
#include <tuple>

#include "core/cluster.h"
#include "core/identity.h"
#include "util/error.h"
#include "util/log.h"
#include "util/rv.h"

namespace p11c::replication {
namespace {

constexpr char kNextId[] = "p11cluster-transport-next";
// DER OID of prime256v1 (P-256).
const CK_BYTE kP256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

CK_BBOOL yes = CK_TRUE;
CK_BBOOL no = CK_FALSE;

void need(CK_RV rv, Member& member, const std::string& what) {
    if (rv != CKR_OK)
        throw TransportError("member \"" + member.name() + "\": " + what +
                             " failed: " + rvName(rv));
}

std::vector<CK_OBJECT_HANDLE> keysWithId(Member& member, CK_SESSION_HANDLE session,
                                         const char* id) {
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE templ[] = {{CKA_CLASS, &cls, sizeof cls},
                            {CKA_ID, const_cast<char*>(id), std::strlen(id)}};
    return findAll(member, session, templ, 2);
}

// A fresh P-256 key pair inside the member (session objects); returns the
// private key and the public point.
CK_OBJECT_HANDLE ephemeralPair(Member& member, CK_SESSION_HANDLE session,
                               std::vector<CK_BYTE>& point) {
    CK_MECHANISM mech{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
    CK_ATTRIBUTE pub[] = {{CKA_EC_PARAMS, const_cast<CK_BYTE*>(kP256), sizeof kP256},
                          {CKA_TOKEN, &no, sizeof no}};
    CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &no, sizeof no},
                           {CKA_PRIVATE, &no, sizeof no},
                           {CKA_SENSITIVE, &yes, sizeof yes},
                           {CKA_EXTRACTABLE, &no, sizeof no},
                           {CKA_DERIVE, &yes, sizeof yes}};
    CK_OBJECT_HANDLE pubKey, privKey;
    need(member.call(&CK_FUNCTION_LIST::C_GenerateKeyPair, session, &mech, pub, CK_ULONG{2}, priv,
                     CK_ULONG{5}, &pubKey, &privKey),
         member, "generating an ECDH key pair");
    static constexpr CK_ATTRIBUTE_TYPE kPoint[] = {CKA_EC_POINT};
    std::optional<std::vector<CK_BYTE>> read;
    try {
        read = readAttributes(member, session, pubKey, kPoint)[0];
    } catch (const CkError& e) {
        need(e.rv(), member, "reading an ECDH public point");
    }
    if (!read) need(CKR_ATTRIBUTE_TYPE_INVALID, member, "reading an ECDH public point");
    point = std::move(*read);
    member.call(&CK_FUNCTION_LIST::C_DestroyObject, session, pubKey);
    return privKey;
}

// The shared AES-256 key-encryption key both sides derive (trusted, so that
// it may wrap the transport key, which is held CKA_WRAP_WITH_TRUSTED).
CK_OBJECT_HANDLE deriveShared(Member& member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE priv,
                              std::vector<CK_BYTE>& peerPoint) {
    CK_ECDH1_DERIVE_PARAMS params{CKD_NULL, 0, nullptr, static_cast<CK_ULONG>(peerPoint.size()),
                                  peerPoint.data()};
    CK_MECHANISM mech{CKM_ECDH1_DERIVE, &params, sizeof params};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_AES;
    CK_ULONG len = 32;
    CK_ATTRIBUTE templ[] = {{CKA_CLASS, &cls, sizeof cls},     {CKA_KEY_TYPE, &type, sizeof type},
                            {CKA_VALUE_LEN, &len, sizeof len}, {CKA_TOKEN, &no, sizeof no},
                            {CKA_PRIVATE, &no, sizeof no},     {CKA_SENSITIVE, &yes, sizeof yes},
                            {CKA_EXTRACTABLE, &no, sizeof no}, {CKA_WRAP, &yes, sizeof yes},
                            {CKA_UNWRAP, &yes, sizeof yes},    {CKA_TRUSTED, &yes, sizeof yes}};
    CK_OBJECT_HANDLE shared;
    need(member.call(&CK_FUNCTION_LIST::C_DeriveKey, session, &mech, priv, templ,
                     CK_ULONG{std::size(templ)}, &shared),
         member, "ECDH key derivation");
    return shared;
}

// The attributes every copy of a cluster wrapping key (the transport key,
// the backup key) has.
struct TransportTemplate {
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_AES;
    CK_ULONG len = 32;
    CK_BBOOL extractable;
    CK_ATTRIBUTE attrs[18];
    CK_ULONG count = 0;
    TransportTemplate(bool forGeneration, bool extractableCopy, const char* id = kNextId,
                      const char* label = kTransportLabel)
        : extractable(extractableCopy ? CK_TRUE : CK_FALSE) {
        auto add = [&](CK_ATTRIBUTE_TYPE t, void* v, CK_ULONG l) { attrs[count++] = {t, v, l}; };
        add(CKA_CLASS, &cls, sizeof cls);
        add(CKA_KEY_TYPE, &type, sizeof type);
        if (forGeneration) add(CKA_VALUE_LEN, &len, sizeof len);
        add(CKA_TOKEN, &yes, sizeof yes);
        add(CKA_PRIVATE, &no, sizeof no);
        add(CKA_SENSITIVE, &yes, sizeof yes);
        add(CKA_EXTRACTABLE, &extractable, sizeof extractable);
        add(CKA_WRAP_WITH_TRUSTED, &yes, sizeof yes);
        add(CKA_WRAP, &yes, sizeof yes);
        add(CKA_UNWRAP, &yes, sizeof yes);
        add(CKA_TRUSTED, &yes, sizeof yes);
        for (CK_ATTRIBUTE_TYPE unused :
             {CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY, CKA_DERIVE})
            add(unused, &no, sizeof no);
        add(CKA_ID, const_cast<char*>(id), std::strlen(id));
        add(CKA_LABEL, const_cast<char*>(label), std::strlen(label));
    }
};

}  // namespace

CK_OBJECT_HANDLE handOver(Member& from, CK_SESSION_HANDLE fromSession, CK_OBJECT_HANDLE key,
                          Member& to, CK_SESSION_HANDLE toSession, CK_ATTRIBUTE_PTR templ,
                          CK_ULONG count) {
    std::vector<CK_BYTE> fromPoint, toPoint;
    CK_OBJECT_HANDLE fromPriv = ephemeralPair(from, fromSession, fromPoint);
    CK_OBJECT_HANDLE toPriv = ephemeralPair(to, toSession, toPoint);
    CK_OBJECT_HANDLE fromKek = deriveShared(from, fromSession, fromPriv, toPoint);
    CK_OBJECT_HANDLE toKek = deriveShared(to, toSession, toPriv, fromPoint);
    CK_MECHANISM wrap{CKM_AES_KEY_WRAP, nullptr, 0};
    std::vector<CK_BYTE> blob(64);
    CK_ULONG blobLen = blob.size();
    CK_OBJECT_HANDLE made = CK_INVALID_HANDLE;
    CK_RV rv = from.call(&CK_FUNCTION_LIST::C_WrapKey, fromSession, &wrap, fromKek, key,
                         blob.data(), &blobLen);
    if (rv == CKR_OK)
        rv = to.call(&CK_FUNCTION_LIST::C_UnwrapKey, toSession, &wrap, toKek, blob.data(), blobLen,
                     templ, count, &made);
    ::explicit_bzero(blob.data(), blob.size());
    for (auto [member, session, handle] :
         {std::tuple{&from, fromSession, fromPriv}, std::tuple{&from, fromSession, fromKek},
          std::tuple{&to, toSession, toPriv}, std::tuple{&to, toSession, toKek}})
        member->call(&CK_FUNCTION_LIST::C_DestroyObject, session, handle);
    need(rv, to, "handing a key over from \"" + from.name() + "\"");
    return made;
}

bool sameTransportKey(Member& source, CK_SESSION_HANDLE sourceSession, CK_OBJECT_HANDLE sourceKey,
                      Member& target, CK_SESSION_HANDLE targetSession, CK_OBJECT_HANDLE targetKey) {
    CK_MECHANISM keyGen{CKM_AES_KEY_GEN, nullptr, 0};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_AES;
    CK_ULONG len = 16;
    // The unwrap template is the first five (the length comes with the key).
    CK_ATTRIBUTE probe[] = {{CKA_CLASS, &cls, sizeof cls},     {CKA_KEY_TYPE, &type, sizeof type},
                            {CKA_TOKEN, &no, sizeof no},       {CKA_PRIVATE, &no, sizeof no},
                            {CKA_SENSITIVE, &yes, sizeof yes}, {CKA_EXTRACTABLE, &yes, sizeof yes},
                            {CKA_VALUE_LEN, &len, sizeof len}};
    CK_OBJECT_HANDLE throwaway, arrived = CK_INVALID_HANDLE;
    if (CK_RV rv = source.call(&CK_FUNCTION_LIST::C_GenerateKey, sourceSession, &keyGen, probe,
                               CK_ULONG{7}, &throwaway);
        rv != CKR_OK) {
        log::warn("transport key probe: cannot make a probe key: ", rvName(rv));
        return false;
    }
    CK_MECHANISM wrap{kTransportWrap, nullptr, 0};
    CK_BYTE blob[64];
    CK_ULONG blobLen = sizeof blob;
    CK_RV rv = source.call(&CK_FUNCTION_LIST::C_WrapKey, sourceSession, &wrap, sourceKey, throwaway,
                           blob, &blobLen);
    if (rv == CKR_OK)
        rv = target.call(&CK_FUNCTION_LIST::C_UnwrapKey, targetSession, &wrap, targetKey, blob,
                         blobLen, probe, CK_ULONG{5}, &arrived);
    source.call(&CK_FUNCTION_LIST::C_DestroyObject, sourceSession, throwaway);
    if (arrived != CK_INVALID_HANDLE)
        target.call(&CK_FUNCTION_LIST::C_DestroyObject, targetSession, arrived);
    if (rv != CKR_OK) log::warn("transport key probe failed: ", rvName(rv));
    return rv == CKR_OK;
}

CK_OBJECT_HANDLE findTransportKey(Member& member, CK_SESSION_HANDLE session) {
    auto keys = keysWithId(member, session, kTransportId);
    return keys.size() == 1 ? keys.front() : CK_INVALID_HANDLE;
}

void establishTransportKey(Cluster& cluster, std::ostream& out) {
    const unsigned n = cluster.memberCount();
    Member& source = cluster.member(0);
    CK_SESSION_HANDLE s0 = cluster.anchorSession(0);

    // Leftovers of an interrupted run.
    for (unsigned m = 0; m < n; ++m)
        for (CK_OBJECT_HANDLE h : keysWithId(cluster.member(m), cluster.anchorSession(m), kNextId))
            cluster.member(m).call(&CK_FUNCTION_LIST::C_DestroyObject, cluster.anchorSession(m), h);

    TransportTemplate generate(true, true);
    CK_MECHANISM keyGen{CKM_AES_KEY_GEN, nullptr, 0};
    CK_OBJECT_HANDLE key;
    need(source.call(&CK_FUNCTION_LIST::C_GenerateKey, s0, &keyGen, generate.attrs, generate.count,
                     &key),
         source, "generating the transport key");
    out << "transport key generated inside member \"" << source.name() << "\"\n";
    std::vector<CK_OBJECT_HANDLE> made(n, CK_INVALID_HANDLE);
    made[0] = key;

    for (unsigned m = 1; m < n; ++m) {
        Member& target = cluster.member(m);
        CK_SESSION_HANDLE st = cluster.anchorSession(m);
        TransportTemplate copy(false, false);
        made[m] = handOver(source, s0, key, target, st, copy.attrs, copy.count);
        out << "transport key handed to member \"" << target.name()
            << "\" under an ECDH-derived key\n";
    }
    CK_ATTRIBUTE lock{CKA_EXTRACTABLE, &no, sizeof no};
    need(source.call(&CK_FUNCTION_LIST::C_SetAttributeValue, s0, key, &lock, CK_ULONG{1}), source,
         "making the transport key non-extractable");

    // Every copy must be the same key: a throwaway key wrapped on the source
    // must unwrap on every other member (AES key wrap checks integrity).
    for (unsigned m = 1; m < n; ++m)
        if (!sameTransportKey(source, s0, key, cluster.member(m), cluster.anchorSession(m),
                              made[m]))
            throw TransportError("member \"" + cluster.member(m).name() +
                                 "\": its copy of the transport key does not match");

    // Retire older keys, then name the new one.
    for (unsigned m = 0; m < n; ++m) {
        Member& member = cluster.member(m);
        CK_SESSION_HANDLE s = cluster.anchorSession(m);
        for (CK_OBJECT_HANDLE old : keysWithId(member, s, kTransportId))
            need(member.call(&CK_FUNCTION_LIST::C_DestroyObject, s, old), member,
                 "removing the previous transport key");
        CK_ATTRIBUTE id{CKA_ID, const_cast<char*>(kTransportId), sizeof kTransportId - 1};
        need(member.call(&CK_FUNCTION_LIST::C_SetAttributeValue, s, made[m], &id, CK_ULONG{1}),
             member, "naming the transport key");
    }
    out << "transport key established on " << n
        << " members (each copy proven by a wrap/unwrap round trip)\n";
}

CK_OBJECT_HANDLE findBackupKey(Member& member, CK_SESSION_HANDLE session) {
    auto keys = keysWithId(member, session, kBackupId);
    return keys.size() == 1 ? keys.front() : CK_INVALID_HANDLE;
}

void establishBackupKey(Cluster& cluster, Member& recovery, CK_SESSION_HANDLE rs,
                        std::ostream& out) {
    CK_OBJECT_HANDLE key = findBackupKey(recovery, rs);
    if (key == CK_INVALID_HANDLE) {
        if (!keysWithId(recovery, rs, kBackupId).empty())
            throw TransportError("recovery token \"" + recovery.name() +
                                 "\": holds several backup keys; keep one");
        TransportTemplate generate(true, true, kBackupId, kBackupLabel);
        CK_MECHANISM keyGen{CKM_AES_KEY_GEN, nullptr, 0};
        need(recovery.call(&CK_FUNCTION_LIST::C_GenerateKey, rs, &keyGen, generate.attrs,
                           generate.count, &key),
             recovery, "generating the backup key");
        out << "backup key generated inside the recovery token\n";
    } else {
        out << "backup key found on the recovery token\n";
    }
    for (unsigned m = 0; m < cluster.memberCount(); ++m) {
        Member& member = cluster.member(m);
        if (!member.serving()) {
            out << "member \"" << member.name() << "\": not reachable; run this again later\n";
            continue;
        }
        CK_SESSION_HANDLE s = cluster.anchorSession(m);
        CK_OBJECT_HANDLE held = findBackupKey(member, s);
        if (held != CK_INVALID_HANDLE && sameTransportKey(recovery, rs, key, member, s, held)) {
            out << "member \"" << member.name() << "\": holds the backup key already\n";
            continue;
        }
        for (CK_OBJECT_HANDLE old : keysWithId(member, s, kBackupId))
            need(member.call(&CK_FUNCTION_LIST::C_DestroyObject, s, old), member,
                 "removing a backup key of another recovery token");
        TransportTemplate copy(false, false, kBackupId, kBackupLabel);
        CK_OBJECT_HANDLE made = handOver(recovery, rs, key, member, s, copy.attrs, copy.count);
        if (!sameTransportKey(recovery, rs, key, member, s, made))
            throw TransportError("member \"" + member.name() +
                                 "\": its copy of the backup key does not match");
        out << "member \"" << member.name()
            << "\": backup key handed over under an ECDH-derived key\n";
    }
}

}  // namespace p11c::replication
