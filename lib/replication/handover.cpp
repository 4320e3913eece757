#include "replication/handover.h"

#include <cstring>
#include <optional>

#include "core/identity.h"
#include "member/member.h"
#include "util/error.h"
#include "util/rv.h"

namespace p11c::replication {
namespace {

// DER OID of prime256v1 (P-256).
const CK_BYTE kP256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

CK_BBOOL yes = CK_TRUE;
CK_BBOOL no = CK_FALSE;

// A fresh P-256 key pair inside the token (session objects); returns the
// private key and puts the public point in `point`.
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
        member.call(&CK_FUNCTION_LIST::C_DestroyObject, session, privKey);
        need(e.rv(), member, "reading an ECDH public point");
    }
    member.call(&CK_FUNCTION_LIST::C_DestroyObject, session, pubKey);
    if (!read) {
        member.call(&CK_FUNCTION_LIST::C_DestroyObject, session, privKey);
        need(CKR_ATTRIBUTE_TYPE_INVALID, member, "reading an ECDH public point");
    }
    point = std::move(*read);
    return privKey;
}

// The key-encryption key both sides derive: trusted (the keys it carries are
// held CKA_WRAP_WITH_TRUSTED), for CKM_AES_KEY_WRAP only, and what it
// unwraps is forced sensitive and extractable only under trusted keys.
CK_OBJECT_HANDLE deriveShared(Member& member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE priv,
                              std::vector<CK_BYTE>& peerPoint) {
    CK_ECDH1_DERIVE_PARAMS params{CKD_NULL, 0, nullptr, static_cast<CK_ULONG>(peerPoint.size()),
                                  peerPoint.data()};
    CK_MECHANISM mech{CKM_ECDH1_DERIVE, &params, sizeof params};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_AES;
    CK_ULONG len = 32;
    CK_MECHANISM_TYPE allowed = CKM_AES_KEY_WRAP;
    ForcedUnwrap forced;
    CK_ATTRIBUTE templ[] = {{CKA_CLASS, &cls, sizeof cls},
                            {CKA_KEY_TYPE, &type, sizeof type},
                            {CKA_VALUE_LEN, &len, sizeof len},
                            {CKA_TOKEN, &no, sizeof no},
                            {CKA_PRIVATE, &no, sizeof no},
                            {CKA_SENSITIVE, &yes, sizeof yes},
                            {CKA_EXTRACTABLE, &no, sizeof no},
                            {CKA_WRAP, &yes, sizeof yes},
                            {CKA_UNWRAP, &yes, sizeof yes},
                            {CKA_ENCRYPT, &no, sizeof no},
                            {CKA_DECRYPT, &no, sizeof no},
                            {CKA_TRUSTED, &yes, sizeof yes},
                            {CKA_ALLOWED_MECHANISMS, &allowed, sizeof allowed},
                            {CKA_UNWRAP_TEMPLATE, forced.attrs, sizeof forced.attrs}};
    CK_OBJECT_HANDLE shared;
    need(member.call(&CK_FUNCTION_LIST::C_DeriveKey, session, &mech, priv, templ,
                     CK_ULONG{std::size(templ)}, &shared),
         member, "ECDH key derivation");
    return shared;
}

}  // namespace

void need(CK_RV rv, const Member& member, const std::string& what) {
    if (rv != CKR_OK)
        throw TransportError("member \"" + member.name() + "\": " + what +
                             " failed: " + rvName(rv));
}

ClusterKeyTemplate::ClusterKeyTemplate(Stage stage, const std::string& id, const std::string& label)
    : unwrapTemplate_{{CKA_SENSITIVE, &yes_, sizeof yes_},
                      {CKA_WRAP_WITH_TRUSTED, &yes_, sizeof yes_}},
      id_(id),
      label_(label) {
    auto add = [&](CK_ATTRIBUTE_TYPE t, void* v, CK_ULONG l) { attrs_.push_back({t, v, l}); };
    auto flag = [&](CK_ATTRIBUTE_TYPE t, bool v) { add(t, v ? &yes_ : &no_, sizeof(CK_BBOOL)); };
    add(CKA_CLASS, &cls_, sizeof cls_);
    add(CKA_KEY_TYPE, &type_, sizeof type_);
    if (stage != Stage::Received) add(CKA_VALUE_LEN, &length_, sizeof length_);
    const bool recovery = stage == Stage::Recovery;
    flag(CKA_TOKEN, recovery);
    flag(CKA_PRIVATE, recovery);
    flag(CKA_MODIFIABLE, !recovery);  // the final copy on a member is unmodifiable
    flag(CKA_SENSITIVE, true);
    flag(CKA_EXTRACTABLE, stage != Stage::Received);  // only under trusted keys:
    flag(CKA_WRAP_WITH_TRUSTED, true);
    flag(CKA_WRAP, !recovery);  // the recovery token's key only travels
    flag(CKA_UNWRAP, !recovery);
    if (!recovery) flag(CKA_TRUSTED, true);
    for (CK_ATTRIBUTE_TYPE unused : {CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY, CKA_DERIVE})
        flag(unused, false);
    add(CKA_ALLOWED_MECHANISMS, &allowed_, sizeof allowed_);
    add(CKA_UNWRAP_TEMPLATE, unwrapTemplate_, sizeof unwrapTemplate_);
    add(CKA_ID, id_.data(), static_cast<CK_ULONG>(id_.size()));
    add(CKA_LABEL, label_.data(), static_cast<CK_ULONG>(label_.size()));
}

CK_OBJECT_HANDLE keepPrivately(Member& member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE staged) {
    CK_ATTRIBUTE templ[] = {{CKA_TOKEN, &yes, sizeof yes},
                            {CKA_PRIVATE, &yes, sizeof yes},
                            {CKA_MODIFIABLE, &no, sizeof no}};
    CK_OBJECT_HANDLE kept = CK_INVALID_HANDLE;
    need(member.call(&CK_FUNCTION_LIST::C_CopyObject, session, staged, templ, CK_ULONG{3}, &kept),
         member, "keeping a cluster key as a private token object");
    // The copy must really be private and trusted: a token that drops either
    // would leave a cluster key usable without login or useless.
    CK_BBOOL isPrivate = CK_FALSE, trusted = CK_FALSE;
    CK_ATTRIBUTE check[] = {{CKA_PRIVATE, &isPrivate, sizeof isPrivate},
                            {CKA_TRUSTED, &trusted, sizeof trusted}};
    CK_RV rv =
        member.call(&CK_FUNCTION_LIST::C_GetAttributeValue, session, kept, check, CK_ULONG{2});
    if (rv != CKR_OK || !isPrivate || !trusted) {
        member.call(&CK_FUNCTION_LIST::C_DestroyObject, session, kept);
        throw TransportError("member \"" + member.name() +
                             "\": its token does not keep a copied key private and trusted; "
                             "it cannot hold a cluster key safely");
    }
    return kept;
}

std::vector<CK_OBJECT_HANDLE> keysWithId(Member& member, CK_SESSION_HANDLE session,
                                         const std::string& id) {
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE templ[] = {{CKA_CLASS, &cls, sizeof cls},
                            {CKA_ID, const_cast<char*>(id.data()), id.size()}};
    return findAll(member, session, templ, 2);
}

HandOver::HandOver(Member& from, CK_SESSION_HANDLE fromSession, Member& to,
                   CK_SESSION_HANDLE toSession)
    : from_(from), to_(to), fromSession_(fromSession), toSession_(toSession) {
    try {
        std::vector<CK_BYTE> fromPoint, toPoint;
        CK_OBJECT_HANDLE fromPriv = ephemeralPair(from, fromSession, fromPoint);
        made_.emplace_back(true, fromPriv);
        CK_OBJECT_HANDLE toPriv = ephemeralPair(to, toSession, toPoint);
        made_.emplace_back(false, toPriv);
        fromKek_ = deriveShared(from, fromSession, fromPriv, toPoint);
        made_.emplace_back(true, fromKek_);
        toKek_ = deriveShared(to, toSession, toPriv, fromPoint);
        made_.emplace_back(false, toKek_);
    } catch (...) {
        destroyMade();
        throw;
    }
}

HandOver::~HandOver() {
    destroyMade();
}

void HandOver::destroyMade() {
    for (auto [onSource, handle] : made_) {
        Member& m = onSource ? from_ : to_;
        try {
            m.call(&CK_FUNCTION_LIST::C_DestroyObject, onSource ? fromSession_ : toSession_,
                   handle);
        } catch (const CkError&) {
            // a session object: it goes with the session
        }
    }
    made_.clear();
}

std::vector<CK_BYTE> HandOver::wrap(CK_OBJECT_HANDLE key) {
    CK_MECHANISM mech{CKM_AES_KEY_WRAP, nullptr, 0};
    std::vector<CK_BYTE> blob(64);
    CK_ULONG length = blob.size();
    need(from_.call(&CK_FUNCTION_LIST::C_WrapKey, fromSession_, &mech, fromKek_, key, blob.data(),
                    &length),
         from_, "wrapping a cluster key for \"" + to_.name() + "\"");
    blob.resize(length);
    return blob;
}

CK_OBJECT_HANDLE HandOver::unwrap(std::vector<CK_BYTE>& blob, CK_ATTRIBUTE_PTR templ,
                                  CK_ULONG count) {
    CK_MECHANISM mech{CKM_AES_KEY_WRAP, nullptr, 0};
    CK_OBJECT_HANDLE made = CK_INVALID_HANDLE;
    CK_RV rv = to_.call(&CK_FUNCTION_LIST::C_UnwrapKey, toSession_, &mech, toKek_, blob.data(),
                        static_cast<CK_ULONG>(blob.size()), templ, count, &made);
    ::explicit_bzero(blob.data(), blob.size());
    need(rv, to_, "receiving a cluster key from \"" + from_.name() + "\"");
    return made;
}

}  // namespace p11c::replication
