// A cluster with its transport key, a recovery token and the backup key
// (p11cluster init, backup-key), as an operator makes it; the backup tools
// run as the operator runs them.
#pragma once

#include <string>

#include "integration/cluster_fixture.h"
#include "integration/crypto_helpers.h"

namespace p11c::test {

struct BackupCluster : ClusterFixture {
    explicit BackupCluster(unsigned members = 3) : ClusterFixture(members) {
        env.addToken("recovery");
        REQUIRE(env.initTransportKey() == 0);
        REQUIRE(backupKey("recovery") == 0);
        file = env.dir() + "/cluster.backup";
    }

    int tool(const std::string& args) { return env.tool(args, &output); }
    int backupKey(const std::string& recoveryToken, const std::string& extra = "") {
        return tool("backup-key --recovery-module " + std::string(softhsmPath()) +
                    " --recovery-token " + recoveryToken +
                    " --recovery-so-pin-env P11C_TEST_SO_PIN --so-pin-env P11C_TEST_SO_PIN"
                    " --recovery-pin-env=P11C_TEST_USER_PIN --user-pin-env=P11C_TEST_USER_PIN " +
                    extra);
    }
    int backup(const std::string& to = "") {
        return tool("backup --out " + (to.empty() ? file : to) +
                    " --user-pin-env P11C_TEST_USER_PIN");
    }
    int restore(const std::string& extra = "", const std::string& from = "") {
        return tool("restore --in " + (from.empty() ? file : from) +
                    " --user-pin-env P11C_TEST_USER_PIN " + extra);
    }

    size_t countById(const std::string& id) {
        return findObjects(p11(), session, {{CKA_ID, const_cast<char*>(id.data()), id.size()}})
            .size();
    }
    CK_OBJECT_HANDLE one(CK_OBJECT_CLASS cls, const std::string& id) {
        auto found = findObjects(
            p11(), session,
            {{CKA_CLASS, &cls, sizeof cls}, {CKA_ID, const_cast<char*>(id.data()), id.size()}});
        REQUIRE(found.size() == 1);
        return found[0];
    }
    // An AES-256 token key made through the cluster: private, sensitive as
    // asked, never extractable.
    CK_OBJECT_HANDLE makeAes(const std::string& id, bool sensitive = true) {
        CK_MECHANISM mech{CKM_AES_KEY_GEN, nullptr, 0};
        CK_ULONG len = 32;
        CK_BBOOL yes = CK_TRUE, no = CK_FALSE, sens = sensitive ? CK_TRUE : CK_FALSE;
        CK_ATTRIBUTE templ[] = {{CKA_VALUE_LEN, &len, sizeof len},
                                {CKA_TOKEN, &yes, 1},
                                {CKA_PRIVATE, &yes, 1},
                                {CKA_SENSITIVE, &sens, 1},
                                {CKA_EXTRACTABLE, &no, 1},
                                {CKA_ENCRYPT, &yes, 1},
                                {CKA_DECRYPT, &yes, 1},
                                {CKA_ID, const_cast<char*>(id.data()), id.size()}};
        CK_OBJECT_HANDLE key;
        REQUIRE_OK(p11()->C_GenerateKey(session, &mech, templ, 8, &key));
        return key;
    }

    std::string file;
    std::string output;
};

}  // namespace p11c::test
