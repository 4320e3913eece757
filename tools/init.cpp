// p11cluster init: the transport key on every member, the cluster's
// identity, and the members' copies of keys an earlier release made
// re-protected (docs/security.md, "Upgrading").
//
// The transport key must be trusted (only the security officer can make
// that) and private (only the user can make that): init logs in as the SO
// to make it and hand it over, then as the user to keep it.
#include <iostream>
#include <optional>

#include "core/identity.h"
#include "core/session.h"
#include "core/views.h"
#include "replication/cluster_id.h"
#include "replication/records.h"
#include "replication/transport.h"
#include "tools/cli.h"
#include "util/error.h"
#include "util/rv.h"

namespace p11c::tool {
namespace {

// Keys the members hold extractable only under trusted keys must be
// sensitive there (a release before this one left them as the caller asked):
// the caller's CKA_SENSITIVE goes into the key's view record first, then
// every member's copy is made sensitive.
void reprotectKeys(Cluster& cluster, std::ostream& out) {
    auto session = cluster.sessions().open(cluster, CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                           cluster.memberCount());
    std::lock_guard lock(session->mutex);
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    unsigned made = 0;
    for (unsigned m = 0; m < cluster.memberCount(); ++m) {
        Member& member = cluster.member(m);
        if (!member.serving()) continue;
        CK_SESSION_HANDLE s = session->memberSessionLocked(m);
        CK_ATTRIBUTE exposed[] = {{CKA_TOKEN, &yes, sizeof yes},
                                  {CKA_WRAP_WITH_TRUSTED, &yes, sizeof yes},
                                  {CKA_SENSITIVE, &no, sizeof no}};
        for (CK_OBJECT_HANDLE h : findAll(member, s, exposed, 3)) {
            if (cluster.isInternal(m, s, h)) continue;
            auto identity = readIdentity(member, s, h);
            if (!identity) continue;
            if (auto view = views::read(member, s, *identity); view && !view->sensitive) {
                view->sensitive = CK_FALSE;
                const unsigned only[] = {m};
                if (views::store(cluster, *session, *identity, *view, only).empty()) continue;
            }
            CK_ATTRIBUTE sensitive{CKA_SENSITIVE, &yes, sizeof yes};
            CK_RV rv =
                member.call(&CK_FUNCTION_LIST::C_SetAttributeValue, s, h, &sensitive, CK_ULONG{1});
            if (rv == CKR_OK)
                ++made;
            else
                out << "member \"" << member.name()
                    << "\": a key could not be made sensitive: " << rvName(rv) << "\n";
        }
    }
    cluster.sessions().remove(session->handle());
    if (made > 0)
        out << made
            << " member copies of non-extractable keys made sensitive (the caller still sees "
               "CKA_SENSITIVE as it asked)\n";
}

}  // namespace

int initCommand(const Options& options) {
    std::optional<std::vector<CK_BYTE>> wanted;
    if (std::string hex = options.get("cluster-id"); !hex.empty()) {
        wanted = replication::fromHex(hex);
        if (!wanted || wanted->size() != replication::kIdentitySize)
            throw UsageError(
                "--cluster-id wants the 32 hexadecimal digits of a cluster identity "
                "(as `p11cluster backup` prints it): \"" +
                hex + "\"");
    }
    Secret soPin = readPin(options, "so");
    Secret userPin = readPin(options, "user");
    auto cluster = connect(options);
    loginAll(*cluster, CKU_SO, soPin);
    auto staged = replication::stageTransportKey(*cluster, std::cout);
    cluster->logout();
    loginAll(*cluster, CKU_USER, userPin);
    replication::commitTransportKey(*cluster, staged, std::cout);
    replication::establishClusterId(*cluster, wanted, std::cout);
    reprotectKeys(*cluster, std::cout);
    cluster->logout();
    return 0;
}

}  // namespace p11c::tool
