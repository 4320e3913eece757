// p11cluster verify: prove that every member holds the same objects.
//
// Lists every object on every member (the cluster's own objects aside),
// matches them across members by identity, compares their attributes, and
// for each key pair signs on one member and verifies on another. Prints
// every difference; exit status 1 if there is one.
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "core/identity.h"
#include "core/views.h"
#include "tools/cli.h"
#include "util/error.h"
#include "util/rv.h"

namespace p11c::tool {
namespace {

// Attributes that must agree on every member. CKA_LOCAL, CKA_ALWAYS_SENSITIVE,
// CKA_NEVER_EXTRACTABLE and CKA_KEY_GEN_MECHANISM legitimately differ between
// the member that generated a key and the members that received a copy.
const CK_ATTRIBUTE_TYPE kCompared[] = {CKA_CLASS,
                                       CKA_KEY_TYPE,
                                       CKA_TOKEN,
                                       CKA_PRIVATE,
                                       CKA_LABEL,
                                       CKA_ID,
                                       CKA_MODIFIABLE,
                                       CKA_SENSITIVE,
                                       CKA_EXTRACTABLE,
                                       CKA_WRAP_WITH_TRUSTED,
                                       CKA_ENCRYPT,
                                       CKA_DECRYPT,
                                       CKA_SIGN,
                                       CKA_VERIFY,
                                       CKA_WRAP,
                                       CKA_UNWRAP,
                                       CKA_DERIVE,
                                       CKA_SIGN_RECOVER,
                                       CKA_VERIFY_RECOVER,
                                       CKA_MODULUS,
                                       CKA_PUBLIC_EXPONENT,
                                       CKA_EC_PARAMS,
                                       CKA_EC_POINT,
                                       CKA_VALUE_LEN,
                                       CKA_CHECK_VALUE,
                                       CKA_CERTIFICATE_TYPE,
                                       CKA_SUBJECT,
                                       CKA_ISSUER,
                                       CKA_SERIAL_NUMBER,
                                       CKA_APPLICATION,
                                       CKA_START_DATE,
                                       CKA_END_DATE};

using Bytes = std::vector<CK_BYTE>;

struct Seen {
    CK_OBJECT_HANDLE handle;
    std::map<CK_ATTRIBUTE_TYPE, Bytes> attrs;  // absent: the member lacks the attribute
};

std::string hex(const Bytes& bytes) {
    std::ostringstream out;
    for (CK_BYTE b : bytes) out << std::hex << std::setw(2) << std::setfill('0') << int(b);
    return out.str();
}

std::string describe(const Identity& id) {
    static const std::map<CK_OBJECT_CLASS, const char*> names = {{CKO_DATA, "data"},
                                                                 {CKO_CERTIFICATE, "certificate"},
                                                                 {CKO_PUBLIC_KEY, "public key"},
                                                                 {CKO_PRIVATE_KEY, "private key"},
                                                                 {CKO_SECRET_KEY, "secret key"}};
    auto it = names.find(id.cls);
    std::string out = it != names.end() ? it->second : "object";
    out += " label=\"" + std::string(id.label.begin(), id.label.end()) + "\" id=" + hex(id.id);
    return out;
}

Seen snapshot(Member& member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object) {
    Seen seen{object, {}};
    AttributeValues values;
    try {
        values = readAttributes(member, session, object, kCompared);
    } catch (const CkError&) {
        return seen;  // unreadable: every attribute will show as a difference
    }
    for (size_t i = 0; i < values.size(); ++i)
        if (values[i]) seen.attrs[kCompared[i]] = std::move(*values[i]);
    return seen;
}

// SoftHSM reports CKA_VALUE_LEN 0 and an empty CKA_CHECK_VALUE on secret
// keys it unwrapped: those members cannot tell, which is not a difference.
bool unknownSize(const std::map<CK_ATTRIBUTE_TYPE, Bytes>& attrs, CK_ATTRIBUTE_TYPE type) {
    auto it = attrs.find(type);
    if (it == attrs.end() || it->second.empty()) return true;
    return std::all_of(it->second.begin(), it->second.end(), [](CK_BYTE b) { return b == 0; });
}

// What a secret key makes of fixed input on a member (AES-ECB of a zero
// block, or HMAC-SHA256 of a fixed message): equal on every member exactly
// when the members hold the same key.
Bytes fingerprint(Member& member, CK_SESSION_HANDLE session, const Identity& id, const Seen& seen) {
    Bytes input(32, 0), output(64);
    CK_ULONG length = output.size();
    CK_MECHANISM mech{};
    auto flag = [&](CK_ATTRIBUTE_TYPE t) {
        auto it = seen.attrs.find(t);
        return it != seen.attrs.end() && it->second == Bytes{CK_TRUE};
    };
    CK_RV rv = CKR_FUNCTION_NOT_SUPPORTED;
    if (id.subtype == CKK_AES && flag(CKA_ENCRYPT)) {
        mech.mechanism = CKM_AES_ECB;
        rv = member.call(&CK_FUNCTION_LIST::C_EncryptInit, session, &mech, seen.handle);
        if (rv == CKR_OK)
            rv = member.call(&CK_FUNCTION_LIST::C_Encrypt, session, input.data(), CK_ULONG{16},
                             output.data(), &length);
    } else if (flag(CKA_SIGN)) {
        mech.mechanism = CKM_SHA256_HMAC;
        rv = member.call(&CK_FUNCTION_LIST::C_SignInit, session, &mech, seen.handle);
        if (rv == CKR_OK)
            rv = member.call(&CK_FUNCTION_LIST::C_Sign, session, input.data(), CK_ULONG{32},
                             output.data(), &length);
    }
    if (rv != CKR_OK) return {};
    output.resize(length);
    return output;
}

CK_MECHANISM_TYPE signMechanism(const Identity& id) {
    if (id.subtype == CKK_RSA) return CKM_SHA256_RSA_PKCS;
    if (id.subtype == CKK_EC) return CKM_ECDSA;
    return CK_UNAVAILABLE_INFORMATION;
}

}  // namespace

int verifyMembers(const Options& options, std::ostream& out) {
    Secret pin = readPin(options, "user");
    auto cluster = connect(options);
    loginAll(*cluster, CKU_USER, pin);
    const unsigned n = cluster->memberCount();

    // identity -> per member: what that member holds (possibly several).
    std::map<std::pair<Bytes, Bytes>, Identity> identities;
    std::map<std::pair<Bytes, Bytes>, std::vector<std::vector<Seen>>> table;
    unsigned unreachable = 0;
    for (unsigned m = 0; m < n; ++m) {
        Member& member = cluster->member(m);
        if (!member.serving()) {
            out << "DIFFERENCE: member \"" << member.name()
                << "\" cannot be reached; it is not compared\n";
            ++unreachable;
            continue;
        }
        CK_SESSION_HANDLE s = cluster->anchorSession(m);
        // Token objects: session objects belong to the sessions (of any
        // process using the member host) that made them.
        CK_BBOOL yes = CK_TRUE;
        CK_ATTRIBUTE tokenOnly{CKA_TOKEN, &yes, sizeof yes};
        for (CK_OBJECT_HANDLE h : findAll(member, s, &tokenOnly, 1)) {
            if (cluster->isInternal(m, s, h)) continue;
            auto id = readIdentity(member, s, h);
            if (!id) continue;
            Bytes key(reinterpret_cast<const CK_BYTE*>(&id->cls),
                      reinterpret_cast<const CK_BYTE*>(&id->cls) + sizeof id->cls);
            key.insert(key.end(), id->id.begin(), id->id.end());
            key.insert(key.end(), id->label.begin(), id->label.end());
            auto k = std::make_pair(key, Bytes(id->material.begin(), id->material.end()));
            identities.emplace(k, *id);
            auto& row = table[k];
            row.resize(n);
            row[m].push_back(snapshot(member, s, h));
        }
    }

    unsigned problems = 0, objects = 0, pairsChecked = 0;
    auto report = [&](const std::string& what) {
        ++problems;
        out << "DIFFERENCE: " << what << "\n";
    };
    for (auto& [key, row] : table) {
        ++objects;
        const Identity& id = identities.at(key);
        for (unsigned m = 0; m < n; ++m) {
            if (row[m].empty() && cluster->member(m).serving())
                report(describe(id) + ": missing on member \"" + cluster->member(m).name() + "\"");
            if (row[m].size() > 1)
                report(describe(id) + ": " + std::to_string(row[m].size()) +
                       " copies on member \"" + cluster->member(m).name() + "\"");
        }
        const Seen* reference = nullptr;
        unsigned referenceMember = 0;
        for (unsigned m = 0; m < n && !reference; ++m)
            if (!row[m].empty()) reference = &row[m][0], referenceMember = m;
        for (unsigned m = 0; m < n; ++m) {
            if (row[m].empty() || m == referenceMember) continue;
            for (CK_ATTRIBUTE_TYPE type : kCompared) {
                auto a = reference->attrs.find(type);
                auto b = row[m][0].attrs.find(type);
                if ((type == CKA_VALUE_LEN || type == CKA_CHECK_VALUE) &&
                    (unknownSize(reference->attrs, type) || unknownSize(row[m][0].attrs, type)))
                    continue;  // a member that unwrapped the key may not know them
                bool same = (a == reference->attrs.end()) == (b == row[m][0].attrs.end()) &&
                            (a == reference->attrs.end() || a->second == b->second);
                if (!same) {
                    std::ostringstream what;
                    what << describe(id) << ": attribute 0x" << std::hex << type
                         << " differs between members \"" << cluster->member(referenceMember).name()
                         << "\" and \"" << cluster->member(m).name() << "\"";
                    report(what.str());
                }
            }
        }
    }

    // Token keys: the same view record (the caller's view of the key,
    // core/views.h) beside the key on every member, or on none.
    std::vector<views::Records> records(n);
    for (unsigned m = 0; m < n; ++m)
        if (cluster->member(m).serving())
            records[m] = views::recordsOn(cluster->member(m), cluster->anchorSession(m));
    static constexpr CK_ATTRIBUTE_TYPE kValue[] = {CKA_VALUE};
    for (auto& [key, row] : table) {
        const Identity& id = identities.at(key);
        if (!views::recorded(id)) continue;
        const std::string label = views::labelFor(id);
        std::optional<Bytes> first;
        unsigned firstMember = 0;
        for (unsigned m = 0; m < n; ++m) {
            if (row[m].empty()) continue;
            Member& member = cluster->member(m);
            auto it = records[m].find(label);
            std::optional<Bytes> value;
            if (it != records[m].end())
                value = readAttributes(member, cluster->anchorSession(m), it->second.front(),
                                       kValue)[0];
            Bytes seen = value ? *value : Bytes{};
            if (!first) {
                first = seen;
                firstMember = m;
            } else if (*first != seen) {
                report(
                    describe(id) + ": the caller's view of the key differs between members \"" +
                    cluster->member(firstMember).name() + "\" and \"" + member.name() + "\" (" +
                    (first->empty() || seen.empty() ? "one lacks its record" : "records differ") +
                    ")");
            }
        }
    }

    // Secret keys: the same output on every member.
    unsigned secretsChecked = 0;
    for (auto& [key, row] : table) {
        const Identity& id = identities.at(key);
        if (id.cls != CKO_SECRET_KEY) continue;
        Bytes first;
        unsigned firstMember = 0;
        for (unsigned m = 0; m < n; ++m) {
            if (row[m].empty()) continue;
            Bytes out = fingerprint(cluster->member(m), cluster->anchorSession(m), id, row[m][0]);
            if (out.empty()) continue;
            if (first.empty()) {
                first = out;
                firstMember = m;
                ++secretsChecked;
            } else if (out != first) {
                report(describe(id) + ": members \"" + cluster->member(firstMember).name() +
                       "\" and \"" + cluster->member(m).name() + "\" hold different key values");
            }
        }
    }

    // Key pairs: a signature made by one member's private key verifies with
    // the next member's public key.
    for (auto& [key, row] : table) {
        const Identity& id = identities.at(key);
        if (id.cls != CKO_PRIVATE_KEY || signMechanism(id) == CK_UNAVAILABLE_INFORMATION) continue;
        auto sign = row[0].empty() ? nullptr : &row[0][0];
        if (!sign || sign->attrs[CKA_SIGN] != Bytes{CK_TRUE}) continue;
        for (unsigned a = 0; a < n; ++a) {
            unsigned b = (a + 1) % n;
            if (row[a].empty()) continue;
            // The public key with the same CKA_ID on member b.
            CK_OBJECT_CLASS pubClass = CKO_PUBLIC_KEY;
            CK_ATTRIBUTE templ[] = {{CKA_CLASS, &pubClass, sizeof pubClass},
                                    {CKA_ID, const_cast<CK_BYTE*>(id.id.data()), id.id.size()}};
            auto pubs = findAll(cluster->member(b), cluster->anchorSession(b), templ, 2);
            if (pubs.size() != 1) continue;  // no unique public half to check against
            CK_MECHANISM mech{signMechanism(id), nullptr, 0};
            Bytes data(32, 0x42), sig(1024);
            CK_ULONG sigLen = sig.size();
            Member& ma = cluster->member(a);
            Member& mb = cluster->member(b);
            CK_RV rv = ma.call(&CK_FUNCTION_LIST::C_SignInit, cluster->anchorSession(a), &mech,
                               row[a][0].handle);
            if (rv == CKR_OK)
                rv = ma.call(&CK_FUNCTION_LIST::C_Sign, cluster->anchorSession(a), data.data(),
                             CK_ULONG{32}, sig.data(), &sigLen);
            if (rv == CKR_OK)
                rv = mb.call(&CK_FUNCTION_LIST::C_VerifyInit, cluster->anchorSession(b), &mech,
                             pubs[0]);
            if (rv == CKR_OK)
                rv = mb.call(&CK_FUNCTION_LIST::C_Verify, cluster->anchorSession(b), data.data(),
                             CK_ULONG{32}, sig.data(), sigLen);
            ++pairsChecked;
            if (rv != CKR_OK)
                report(describe(id) + ": signed on \"" + ma.name() + "\", verify on \"" +
                       mb.name() + "\" gave " + rvName(rv));
        }
    }
    out << "verify: " << n << " members, " << objects << " objects, " << pairsChecked
        << " cross-member signatures, " << secretsChecked << " secret keys compared, "
        << problems + unreachable << " differences\n";
    cluster->logout();
    return problems + unreachable == 0 ? 0 : 1;
}

int verifyCommand(const Options& options) {
    return verifyMembers(options, std::cout);
}

}  // namespace p11c::tool

namespace p11c::tool {

// p11cluster repair: logs in, brings back members that can be reached
// again, and makes every reachable member hold the same objects (copies
// what some lack, removes what tombstones say was destroyed).
int repairCommand(const Options& options) {
    Secret pin = readPin(options, "user");
    auto cluster = connect(options);
    loginAll(*cluster, CKU_USER, pin);
    cluster->probeDue();  // members unreachable at start: located, logged in, repaired
    repair::Report report = cluster->repairNow("p11cluster repair");
    unsigned unreachable = 0;
    for (unsigned m = 0; m < cluster->memberCount(); ++m)
        if (!cluster->member(m).serving()) {
            std::cout << "member \"" << cluster->member(m).name() << "\" cannot be reached\n";
            ++unreachable;
        }
    std::cout << "repair: " << report.copied << " copies made, " << report.removed
              << " destroyed objects removed, " << report.failed << " failed, " << unreachable
              << " members unreachable\n";
    cluster->logout();
    return report.failed == 0 && unreachable == 0 ? 0 : 1;
}

}  // namespace p11c::tool
