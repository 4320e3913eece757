#include "core/views.h"

#include <openssl/evp.h>

#include <cstring>
#include <ctime>
#include <set>

#include "core/cluster.h"
#include "core/repair.h"
#include "remote/wire.h"
#include "util/error.h"
#include "util/log.h"
#include "util/rv.h"

namespace p11c::views {
namespace {

constexpr char kApplication[] = "p11cluster";
// Format 2 adds CKA_SENSITIVE as the caller made it (a byte: 0, 1, or 2 for
// "as the members hold it"); format 1 records read as 2.
constexpr uint8_t kFormat = 2;

CK_RV destroyOn(Member& member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE h) {
    try {
        return member.call(&CK_FUNCTION_LIST::C_DestroyObject, session, h);
    } catch (const CkError& e) {
        return e.rv();
    }
}

std::vector<CK_OBJECT_HANDLE> findRecords(Member& member, CK_SESSION_HANDLE session,
                                          const std::string& label) {
    CK_OBJECT_CLASS data = CKO_DATA;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE templ[] = {
        {CKA_CLASS, &data, sizeof data},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_APPLICATION, const_cast<char*>(kApplication), sizeof kApplication - 1},
        {CKA_LABEL, const_cast<char*>(label.data()), label.size()}};
    return findAll(member, session, templ, 4);
}

}  // namespace

std::string labelFor(const Identity& identity) {
    Identity asToken = identity;
    asToken.token = CK_TRUE;
    std::vector<CK_BYTE> key = repair::encodeIdentity(asToken);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_Digest(key.data(), key.size(), digest, &length, EVP_sha256(), nullptr) != 1)
        throw CkError(CKR_HOST_MEMORY);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string label = kLabelPrefix;
    for (unsigned i = 0; i < length; ++i) {
        label.push_back(kHex[digest[i] >> 4]);
        label.push_back(kHex[digest[i] & 15]);
    }
    return label;
}

std::vector<CK_BYTE> encode(const CallerView& view) {
    remote::Writer w;
    w.u8(kFormat);
    w.u64(static_cast<uint64_t>(std::time(nullptr)));
    w.u8(view.extractable);
    w.u8(view.neverExtractable);
    w.u8(view.alwaysSensitive);
    w.u8(view.local);
    w.u8(view.wrapWithTrusted);
    w.u64(view.keyGenMechanism);
    w.u64(view.valueLen);
    w.bytes(view.checkValue.data(), view.checkValue.size());
    w.u8(view.sensitive ? *view.sensitive : 2);
    return std::move(w.buffer());
}

std::optional<CallerView> decode(std::span<const CK_BYTE> value, int64_t* written) {
    remote::Reader r(value.data(), value.size());
    const uint8_t format = r.u8();
    if (format != 1 && format != kFormat) return std::nullopt;
    const auto when = static_cast<int64_t>(r.u64());
    CallerView view;
    auto flag = [&r] { return r.u8() != 0 ? CK_TRUE : CK_FALSE; };
    view.extractable = flag();
    view.neverExtractable = flag();
    view.alwaysSensitive = flag();
    view.local = flag();
    view.wrapWithTrusted = flag();
    view.keyGenMechanism = r.u64();
    view.valueLen = r.u64();
    view.checkValue = r.bytes(64);
    if (format >= 2)
        if (uint8_t sensitive = r.u8(); sensitive < 2) view.sensitive = sensitive;
    if (!r.ok() || !r.atEnd()) return std::nullopt;
    if (written != nullptr) *written = when;
    return view;
}

std::vector<unsigned> store(Cluster& cluster, Session& session, const Identity& identity,
                            const CallerView& view, std::span<const unsigned> members) {
    const std::string label = labelFor(identity);
    std::vector<CK_BYTE> value = encode(view);
    std::vector<unsigned> written;
    for (unsigned m : members) {
        Member& member = cluster.member(m);
        CK_RV rv;
        try {
            CK_SESSION_HANDLE s = session.memberSessionLocked(m);
            // One record per key: a new view replaces the old.
            for (CK_OBJECT_HANDLE old : findRecords(member, s, label)) destroyOn(member, s, old);
            rv = repair::writeRecord(member, s, label, value);
        } catch (const CkError& e) {
            rv = e.rv();
        }
        if (rv == CKR_OK)
            written.push_back(m);
        else
            log::error("member ", member.name(),
                       ": writing a key's view record failed: ", rvName(rv));
    }
    return written;
}

void remove(Cluster& cluster, Session& session, const Identity& identity,
            std::span<const unsigned> members) {
    const std::string label = labelFor(identity);
    for (unsigned m : members) {
        Member& member = cluster.member(m);
        try {
            CK_SESSION_HANDLE s = session.memberSessionLocked(m);
            for (CK_OBJECT_HANDLE h : findRecords(member, s, label)) destroyOn(member, s, h);
        } catch (const CkError& e) {
            // repair removes it: the record's key is gone
            log::warn("member ", member.name(),
                      ": removing a key's view record failed: ", rvName(e.rv()));
        }
    }
}

std::optional<CallerView> read(Member& member, CK_SESSION_HANDLE session,
                               const Identity& identity) {
    for (CK_OBJECT_HANDLE h : findRecords(member, session, labelFor(identity))) {
        static constexpr CK_ATTRIBUTE_TYPE kValue[] = {CKA_VALUE};
        auto values = readAttributes(member, session, h, kValue);
        if (values[0])
            if (auto view = decode(*values[0])) return view;
    }
    return std::nullopt;
}

std::map<std::string, std::vector<CK_OBJECT_HANDLE>> recordsOn(Member& member,
                                                               CK_SESSION_HANDLE session) {
    CK_OBJECT_CLASS data = CKO_DATA;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE templ[] = {
        {CKA_CLASS, &data, sizeof data},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_APPLICATION, const_cast<char*>(kApplication), sizeof kApplication - 1}};
    std::map<std::string, std::vector<CK_OBJECT_HANDLE>> out;
    static constexpr CK_ATTRIBUTE_TYPE kLabel[] = {CKA_LABEL};
    for (CK_OBJECT_HANDLE h : findAll(member, session, templ, 3)) {
        auto values = readAttributes(member, session, h, kLabel);
        if (!values[0]) continue;
        std::string label(values[0]->begin(), values[0]->end());
        if (label.rfind(kLabelPrefix, 0) == 0) out[label].push_back(h);
    }
    return out;
}

bool recorded(const Identity& identity) {
    return identity.token && (identity.cls == CKO_PRIVATE_KEY || identity.cls == CKO_SECRET_KEY ||
                              identity.cls == CKO_PUBLIC_KEY);
}

Mended reconcile(Cluster& cluster, Session& session, std::span<const unsigned> listed,
                 const std::vector<Records>& records,
                 const std::map<std::string, std::vector<unsigned>>& keyHolders,
                 const std::set<std::string>& tombstoned, bool complete) {
    static constexpr int64_t kOrphanAge = 60;  // seconds
    static constexpr CK_ATTRIBUTE_TYPE kValue[] = {CKA_VALUE};
    Mended mended;
    std::set<std::string> labels;
    for (unsigned m : listed)
        for (const auto& [label, handles] : records[m]) labels.insert(label);
    for (const auto& [label, members] : keyHolders) labels.insert(label);
    const auto now = static_cast<int64_t>(std::time(nullptr));
    for (const std::string& label : labels) {
        auto holders = keyHolders.find(label);
        std::vector<unsigned> withRecord;
        for (unsigned m : listed)
            if (records[m].count(label)) withRecord.push_back(m);
        if (holders == keyHolders.end()) {
            if (!complete) continue;
            for (unsigned m : withRecord) {
                Member& member = cluster.member(m);
                CK_SESSION_HANDLE s = session.memberSessionLocked(m);
                for (CK_OBJECT_HANDLE h : records[m].at(label)) {
                    int64_t written = now;
                    try {
                        auto value = readAttributes(member, s, h, kValue);
                        if (value[0]) decode(*value[0], &written);
                    } catch (const CkError&) {
                        continue;
                    }
                    if (now - written < kOrphanAge && !tombstoned.count(label)) continue;
                    if (destroyOn(member, s, h) == CKR_OK)
                        ++mended.removed;
                    else
                        ++mended.failed;
                }
            }
            continue;
        }
        if (withRecord.empty()) continue;  // a key made without one, or before views
        // The newest record is the key's view (a write that failed half-way
        // can leave an older one on some member); it goes where it is not.
        std::map<unsigned, std::vector<CK_BYTE>> values;
        std::optional<std::vector<CK_BYTE>> newest;
        int64_t newestWritten = -1;
        for (unsigned m : withRecord) {
            try {
                auto value = readAttributes(cluster.member(m), session.memberSessionLocked(m),
                                            records[m].at(label).front(), kValue)[0];
                int64_t written = -1;
                if (!value || !decode(*value, &written)) continue;
                if (records[m].at(label).size() == 1) values[m] = *value;
                if (written > newestWritten) newest = *value, newestWritten = written;
            } catch (const CkError&) {
                // that member's record is not read: it is rewritten below
            }
        }
        if (!newest) continue;  // none readable: nothing to copy
        for (unsigned m : holders->second) {
            if (auto it = values.find(m); it != values.end() && it->second == *newest) continue;
            Member& member = cluster.member(m);
            try {
                CK_SESSION_HANDLE s = session.memberSessionLocked(m);
                if (auto old = records[m].find(label); old != records[m].end())
                    for (CK_OBJECT_HANDLE h : old->second) destroyOn(member, s, h);
                CK_RV rv = repair::writeRecord(member, s, label, *newest);
                if (rv == CKR_OK) {
                    ++mended.copied;
                    continue;
                }
                log::error("member ", member.name(),
                           ": copying a key's view record failed: ", rvName(rv));
            } catch (const CkError& e) {
                log::error("member ", member.name(),
                           ": copying a key's view record failed: ", rvName(e.rv()));
            }
            ++mended.failed;
        }
    }
    return mended;
}

}  // namespace p11c::views
