#include "replication/transport.h"

#include <atomic>
#include <string>

#include "core/cluster.h"
#include "core/identity.h"
#include "util/error.h"
#include "util/log.h"
#include "util/rv.h"

namespace p11c::replication {
namespace {

// The id an earlier release gave a transport key while it was made.
constexpr char kNextId[] = "p11cluster-transport-next";

CK_BBOOL yes = CK_TRUE;
CK_BBOOL no = CK_FALSE;

}  // namespace

bool sameKey(Member& source, CK_SESSION_HANDLE sourceSession, CK_OBJECT_HANDLE sourceKey,
             Member& target, CK_SESSION_HANDLE targetSession, CK_OBJECT_HANDLE targetKey) {
    CK_MECHANISM keyGen{CKM_AES_KEY_GEN, nullptr, 0};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_AES;
    CK_ULONG len = 16;
    // The unwrap template is the first six (the length comes with the key);
    // sensitive and trusted-only as a cluster key's unwrap template demands.
    CK_ATTRIBUTE probe[] = {
        {CKA_CLASS, &cls, sizeof cls},       {CKA_KEY_TYPE, &type, sizeof type},
        {CKA_TOKEN, &no, sizeof no},         {CKA_PRIVATE, &no, sizeof no},
        {CKA_SENSITIVE, &yes, sizeof yes},   {CKA_WRAP_WITH_TRUSTED, &yes, sizeof yes},
        {CKA_EXTRACTABLE, &yes, sizeof yes}, {CKA_VALUE_LEN, &len, sizeof len}};
    CK_OBJECT_HANDLE throwaway, arrived = CK_INVALID_HANDLE;
    if (CK_RV rv = source.call(&CK_FUNCTION_LIST::C_GenerateKey, sourceSession, &keyGen, probe,
                               CK_ULONG{8}, &throwaway);
        rv != CKR_OK) {
        log::warn("cluster key probe: cannot make a probe key: ", rvName(rv));
        return false;
    }
    CK_MECHANISM wrap{kTransportWrap, nullptr, 0};
    CK_BYTE blob[64];
    CK_ULONG blobLen = sizeof blob;
    CK_RV rv = source.call(&CK_FUNCTION_LIST::C_WrapKey, sourceSession, &wrap, sourceKey, throwaway,
                           blob, &blobLen);
    if (rv == CKR_OK)
        rv = target.call(&CK_FUNCTION_LIST::C_UnwrapKey, targetSession, &wrap, targetKey, blob,
                         blobLen, probe, CK_ULONG{6}, &arrived);
    source.call(&CK_FUNCTION_LIST::C_DestroyObject, sourceSession, throwaway);
    if (arrived != CK_INVALID_HANDLE)
        target.call(&CK_FUNCTION_LIST::C_DestroyObject, targetSession, arrived);
    if (rv != CKR_OK) log::warn("cluster key probe failed: ", rvName(rv));
    return rv == CKR_OK;
}

CK_OBJECT_HANDLE findTransportKey(Member& member, CK_SESSION_HANDLE session) {
    // Only a trusted key can be the transport key: a key someone planted
    // under its id cannot carry what the members hold.
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE templ[] = {{CKA_CLASS, &cls, sizeof cls},
                            {CKA_ID, const_cast<char*>(kTransportId), sizeof kTransportId - 1},
                            {CKA_TRUSTED, &yes, sizeof yes}};
    auto keys = findAll(member, session, templ, 3);
    if (keys.size() != 1) return CK_INVALID_HANDLE;
    CK_BBOOL isPrivate = CK_TRUE;
    CK_ATTRIBUTE attr{CKA_PRIVATE, &isPrivate, sizeof isPrivate};
    if (member.call(&CK_FUNCTION_LIST::C_GetAttributeValue, session, keys[0], &attr, CK_ULONG{1}) ==
            CKR_OK &&
        !isPrivate) {
        static std::atomic<bool> warned{false};
        if (!warned.exchange(true))
            log::warn("member ", member.name(),
                      ": the transport key is a public object (made by an earlier release): "
                      "run `p11cluster init` to replace it (docs/security.md)");
    }
    return keys[0];
}

std::vector<CK_OBJECT_HANDLE> stageTransportKey(Cluster& cluster, std::ostream& out) {
    const unsigned n = cluster.memberCount();
    Member& source = cluster.member(0);
    CK_SESSION_HANDLE s0 = cluster.anchorSession(0);
    ClusterKeyTemplate generate(ClusterKeyTemplate::Stage::Source, kTransportId, kTransportLabel);
    CK_MECHANISM keyGen{CKM_AES_KEY_GEN, nullptr, 0};
    std::vector<CK_OBJECT_HANDLE> staged(n, CK_INVALID_HANDLE);
    need(source.call(&CK_FUNCTION_LIST::C_GenerateKey, s0, &keyGen, generate.data(),
                     generate.size(), &staged[0]),
         source, "generating the transport key");
    out << "transport key generated inside member \"" << source.name() << "\"\n";
    for (unsigned m = 1; m < n; ++m) {
        Member& target = cluster.member(m);
        CK_SESSION_HANDLE st = cluster.anchorSession(m);
        HandOver handOver(source, s0, target, st);
        auto blob = handOver.wrap(staged[0]);
        ClusterKeyTemplate receive(ClusterKeyTemplate::Stage::Received, kTransportId,
                                   kTransportLabel);
        staged[m] = handOver.unwrap(blob, receive.data(), receive.size());
        out << "transport key handed to member \"" << target.name()
            << "\" under an ECDH-derived key\n";
    }
    CK_ATTRIBUTE lock{CKA_EXTRACTABLE, &no, sizeof no};
    need(source.call(&CK_FUNCTION_LIST::C_SetAttributeValue, s0, staged[0], &lock, CK_ULONG{1}),
         source, "making the transport key non-extractable");
    for (unsigned m = 1; m < n; ++m)
        if (!sameKey(source, s0, staged[0], cluster.member(m), cluster.anchorSession(m), staged[m]))
            throw TransportError("member \"" + cluster.member(m).name() +
                                 "\": its copy of the transport key does not match");
    return staged;
}

void commitTransportKey(Cluster& cluster, std::span<const CK_OBJECT_HANDLE> staged,
                        std::ostream& out) {
    for (unsigned m = 0; m < cluster.memberCount(); ++m) {
        Member& member = cluster.member(m);
        CK_SESSION_HANDLE s = cluster.anchorSession(m);
        CK_OBJECT_HANDLE kept = keepPrivately(member, s, staged[m]);
        member.call(&CK_FUNCTION_LIST::C_DestroyObject, s, staged[m]);
        // Older transport keys (an earlier one, an earlier release's public
        // one, one left by an interrupted run) go.
        for (const char* id : {kTransportId, kNextId})
            for (CK_OBJECT_HANDLE old : keysWithId(member, s, id))
                if (old != kept)
                    need(member.call(&CK_FUNCTION_LIST::C_DestroyObject, s, old), member,
                         "removing a previous transport key");
    }
    out << "transport key established on " << cluster.memberCount()
        << " members: private, trusted, unmodifiable (each copy proven by a wrap/unwrap round "
           "trip)\n";
}

}  // namespace p11c::replication
