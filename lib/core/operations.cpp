#include "core/operations.h"

#include "remote/codec.h"
#include "util/log.h"

namespace p11c::ops {
namespace {

// The member's *Init for an operation kind.
CK_RV initOn(Member& m, CK_SESSION_HANDLE s, OpKind kind, CK_MECHANISM* mech,
             CK_OBJECT_HANDLE key) {
    switch (kind) {
        case OpKind::Encrypt:
            return m.call(&CK_FUNCTION_LIST::C_EncryptInit, s, mech, key);
        case OpKind::Decrypt:
            return m.call(&CK_FUNCTION_LIST::C_DecryptInit, s, mech, key);
        case OpKind::Digest:
            return m.call(&CK_FUNCTION_LIST::C_DigestInit, s, mech);
        case OpKind::Sign:
            return m.call(&CK_FUNCTION_LIST::C_SignInit, s, mech, key);
        case OpKind::Verify:
            return m.call(&CK_FUNCTION_LIST::C_VerifyInit, s, mech, key);
        case OpKind::SignRecover:
            return m.call(&CK_FUNCTION_LIST::C_SignRecoverInit, s, mech, key);
        case OpKind::VerifyRecover:
            return m.call(&CK_FUNCTION_LIST::C_VerifyRecoverInit, s, mech, key);
    }
    return CKR_FUNCTION_FAILED;
}

// Replays one recorded update; `produced` grows by its output.
CK_RV updateOn(Cluster& cluster, Session& session, Member& m, CK_SESSION_HANDLE s, OpKind kind,
               CK_BYTE* data, CK_ULONG len, CK_OBJECT_HANDLE digestKey, uint64_t& produced) {
    if (digestKey != CK_INVALID_HANDLE) {
        CK_OBJECT_HANDLE key = objects::resolveLocked(cluster, session, digestKey, m.index());
        if (key == CK_INVALID_HANDLE) return CKR_KEY_HANDLE_INVALID;
        return m.call(&CK_FUNCTION_LIST::C_DigestKey, s, key);
    }
    switch (kind) {
        case OpKind::Encrypt:
        case OpKind::Decrypt: {
            std::vector<CK_BYTE> out(len + 256);  // room for a held-back block
            CK_ULONG outLen = out.size();
            CK_RV rv =
                kind == OpKind::Encrypt
                    ? m.call(&CK_FUNCTION_LIST::C_EncryptUpdate, s, data, len, out.data(), &outLen)
                    : m.call(&CK_FUNCTION_LIST::C_DecryptUpdate, s, data, len, out.data(), &outLen);
            if (rv == CKR_OK) produced += outLen;
            return rv;
        }
        case OpKind::Digest:
            return m.call(&CK_FUNCTION_LIST::C_DigestUpdate, s, data, len);
        case OpKind::Sign:
            return m.call(&CK_FUNCTION_LIST::C_SignUpdate, s, data, len);
        case OpKind::Verify:
            return m.call(&CK_FUNCTION_LIST::C_VerifyUpdate, s, data, len);
        default:
            return CKR_FUNCTION_FAILED;  // single-part only: nothing to replay
    }
}

}  // namespace

void started(Cluster& cluster, Session::Operation& op, unsigned member, CK_SESSION_HANDLE s,
             const CK_MECHANISM* mechanism, CK_OBJECT_HANDLE key) {
    op.active = true;
    op.assigned.set(cluster.member(member).stats());
    op.member = member;
    op.memberSession = s;
    op.key = key;
    op.input.clear();
    op.parts.clear();
    op.output = 0;
    remote::Writer w(std::move(op.mechanism));  // the session's last buffer, reused
    op.replayable =
        cluster.config().cluster.replayLimitBytes > 0 && remote::writeMechanism(w, mechanism);
    op.mechanism = std::move(w.buffer());
}

void recorded(Cluster& cluster, Session::Operation& op, const Update& update) {
    if (update.output != nullptr && update.outputLen != nullptr) op.output += *update.outputLen;
    if (!op.replayable) return;
    if (update.digestKey != CK_INVALID_HANDLE) {
        op.parts.push_back({0, update.digestKey});
        return;
    }
    if (op.input.size() + update.inputLen > cluster.config().cluster.replayLimitBytes) {
        op.replayable = false;  // too long to keep: a member fault now ends it
        op.input.clear();
        op.input.shrink_to_fit();
        op.parts.clear();
        return;
    }
    if (update.inputLen > 0)
        op.input.insert(op.input.end(), update.input, update.input + update.inputLen);
    op.parts.push_back({static_cast<uint32_t>(update.inputLen), CK_INVALID_HANDLE});
}

CK_RV restart(Cluster& cluster, Session& session, OpKind kind, Session::Operation& op) {
    if (!op.replayable) {
        log::error("an operation lost its member and cannot be replayed elsewhere (its input ",
                   "exceeded replay_limit_bytes, or it is a dual-function operation)");
        return CKR_DEVICE_ERROR;
    }
    const unsigned failed = op.member;
    std::vector<unsigned> candidates = cluster.usableMembers();
    std::erase(candidates, failed);
    auto replay = [&](unsigned m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE memberKey) -> CK_RV {
        remote::Reader r(op.mechanism.data(), op.mechanism.size());
        remote::HostMechanism mech;
        if (!mech.read(r)) return CKR_MECHANISM_PARAM_INVALID;
        Member& member = cluster.member(m);
        CK_RV rv = initOn(member, s, kind, mech.get(), memberKey);
        if (rv != CKR_OK) return rv;
        uint64_t produced = 0;
        size_t offset = 0;
        for (const auto& part : op.parts) {
            rv = updateOn(cluster, session, member, s, kind, op.input.data() + offset, part.size,
                          part.digestKey, produced);
            offset += part.size;
            if (rv != CKR_OK) return rv;
        }
        if (produced != op.output) {
            log::error("replaying an operation on member ", member.name(),
                       " gave different output; it cannot continue there");
            return CKR_FUNCTION_FAILED;
        }
        op.member = m;
        op.assigned.set(member.stats());
        op.memberSession = s;
        return CKR_OK;
    };
    CK_RV rv;
    try {
        if (op.key == CK_INVALID_HANDLE)
            rv = onAnyMember(cluster, candidates, "replaying an operation", [&](unsigned m) {
                return replay(m, session.memberSessionLocked(m), CK_INVALID_HANDLE);
            });
        else
            rv = objects::withObjectLocked(cluster, session, op.key, candidates,
                                           "replaying an operation", replay);
    } catch (const CkError& e) {
        rv = e.rv();
    }
    if (rv == CKR_OK)
        log::info("an operation moved from member ", cluster.member(failed).name(), " to ",
                  cluster.member(op.member).name());
    // No member can take it: the caller sees a device error, as for a key
    // no serving member holds.
    return rv == CKR_OBJECT_HANDLE_INVALID ? CKR_DEVICE_ERROR : rv;
}

}  // namespace p11c::ops
