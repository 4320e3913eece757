#include "replication/replicate.h"

#include <string.h>

#include "core/cluster.h"
#include "core/identity.h"
#include "replication/transport.h"
#include "util/error.h"
#include "util/log.h"
#include "util/rv.h"

namespace p11c::replication {
namespace {

// Attributes a copy must carry, by object class. The key material of private
// and secret keys is inside the wrapped blob; public material is listed.
std::vector<CK_ATTRIBUTE_TYPE> carried(CK_OBJECT_CLASS cls) {
    std::vector<CK_ATTRIBUTE_TYPE> common = {
        CKA_CLASS, CKA_KEY_TYPE,   CKA_TOKEN,    CKA_PRIVATE, CKA_MODIFIABLE, CKA_LABEL,
        CKA_ID,    CKA_START_DATE, CKA_END_DATE, CKA_DERIVE,  CKA_COPYABLE,   CKA_DESTROYABLE};
    std::vector<CK_ATTRIBUTE_TYPE> extra;
    switch (cls) {
        case CKO_PRIVATE_KEY:
            extra = {CKA_SUBJECT,     CKA_SENSITIVE,         CKA_DECRYPT,
                     CKA_SIGN,        CKA_SIGN_RECOVER,      CKA_UNWRAP,
                     CKA_EXTRACTABLE, CKA_WRAP_WITH_TRUSTED, CKA_ALWAYS_AUTHENTICATE};
            break;
        case CKO_SECRET_KEY:
            extra = {CKA_SENSITIVE, CKA_ENCRYPT,     CKA_DECRYPT,
                     CKA_SIGN,      CKA_VERIFY,      CKA_WRAP,
                     CKA_UNWRAP,    CKA_EXTRACTABLE, CKA_WRAP_WITH_TRUSTED};
            break;
        case CKO_PUBLIC_KEY:
            extra = {CKA_SUBJECT,  CKA_ENCRYPT, CKA_VERIFY,          CKA_VERIFY_RECOVER,
                     CKA_WRAP,     CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_EC_PARAMS,
                     CKA_EC_POINT, CKA_PRIME,   CKA_SUBPRIME,        CKA_BASE,
                     CKA_VALUE};
            break;
        case CKO_CERTIFICATE:
            extra = {CKA_CERTIFICATE_TYPE,
                     CKA_CERTIFICATE_CATEGORY,
                     CKA_SUBJECT,
                     CKA_ISSUER,
                     CKA_SERIAL_NUMBER,
                     CKA_VALUE,
                     CKA_URL,
                     CKA_HASH_OF_SUBJECT_PUBLIC_KEY,
                     CKA_HASH_OF_ISSUER_PUBLIC_KEY,
                     CKA_JAVA_MIDP_SECURITY_DOMAIN};
            break;
        case CKO_DATA:
            extra = {CKA_APPLICATION, CKA_OBJECT_ID, CKA_VALUE};
            break;
        default:
            break;
    }
    common.insert(common.end(), extra.begin(), extra.end());
    return common;
}

// The source's values of the attributes it has, kept alive for a template.
struct Template {
    AttributeValues values;
    std::vector<CK_ATTRIBUTE> attrs;
};

Template readTemplate(Member& member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                      const std::vector<CK_ATTRIBUTE_TYPE>& types) {
    Template t{readAttributes(member, session, object, types), {}};
    for (size_t i = 0; i < types.size(); ++i)
        if (t.values[i])
            t.attrs.push_back(
                {types[i], t.values[i]->data(), static_cast<CK_ULONG>(t.values[i]->size())});
    return t;
}

CK_OBJECT_CLASS classOf(Member& member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object) {
    CK_OBJECT_CLASS cls = 0;
    CK_ATTRIBUTE attr{CKA_CLASS, &cls, sizeof cls};
    check(member.call(&CK_FUNCTION_LIST::C_GetAttributeValue, session, object, &attr, CK_ULONG{1}));
    return cls;
}

}  // namespace

CopyResult copyKey(Cluster& cluster, Session& session, unsigned source, CK_OBJECT_HANDLE key,
                   std::span<const unsigned> targets) {
    CopyResult result;
    Member& from = cluster.member(source);
    CK_SESSION_HANDLE fromSession = CK_INVALID_HANDLE;
    CK_OBJECT_CLASS cls = 0;
    Template templ;
    try {
        fromSession = session.memberSessionLocked(source);
        cls = classOf(from, fromSession, key);
        templ = readTemplate(from, fromSession, key, carried(cls));
    } catch (const CkError& e) {
        log::error("member ", from.name(),
                   ": reading a generated key's attributes failed: ", rvName(e.rv()));
        result.missed.assign(targets.begin(), targets.end());
        return result;
    }

    std::vector<CK_BYTE> blob;
    CK_MECHANISM wrap{kTransportWrap, nullptr, 0};
    // Objects without secrets travel as their attributes.
    const bool plain = cls == CKO_PUBLIC_KEY || cls == CKO_CERTIFICATE || cls == CKO_DATA;
    if (!plain) {
        CK_OBJECT_HANDLE transport = cluster.transportKey(source);
        if (transport == CK_INVALID_HANDLE) {
            log::error("member ", from.name(),
                       ": no cluster transport key (run `p11cluster init`); "
                       "a generated key cannot be copied to the other members");
            result.missed.assign(targets.begin(), targets.end());
            return result;
        }
        CK_ULONG length = 0;
        CK_RV rv = from.call(&CK_FUNCTION_LIST::C_WrapKey, fromSession, &wrap, transport, key,
                             nullptr, &length);
        if (rv == CKR_OK) {
            blob.resize(length);
            rv = from.call(&CK_FUNCTION_LIST::C_WrapKey, fromSession, &wrap, transport, key,
                           blob.data(), &length);
            blob.resize(length);
        }
        if (rv != CKR_OK) {
            result.notWrappable = rv == CKR_KEY_NOT_WRAPPABLE;
            log::error("member ", from.name(),
                       ": wrapping a generated key under the transport key "
                       "failed: ",
                       rvName(rv));
            result.missed.assign(targets.begin(), targets.end());
            return result;
        }
    }

    for (unsigned target : targets) {
        Member& to = cluster.member(target);
        CK_OBJECT_HANDLE made = CK_INVALID_HANDLE;
        CK_RV rv;
        try {
            CK_SESSION_HANDLE toSession = session.memberSessionLocked(target);
            if (plain) {
                rv = to.call(&CK_FUNCTION_LIST::C_CreateObject, toSession, templ.attrs.data(),
                             static_cast<CK_ULONG>(templ.attrs.size()), &made);
            } else {
                CK_OBJECT_HANDLE transport = cluster.transportKey(target);
                rv = transport == CK_INVALID_HANDLE
                         ? CKR_WRAPPING_KEY_HANDLE_INVALID
                         : to.call(&CK_FUNCTION_LIST::C_UnwrapKey, toSession, &wrap, transport,
                                   blob.data(), static_cast<CK_ULONG>(blob.size()),
                                   templ.attrs.data(), static_cast<CK_ULONG>(templ.attrs.size()),
                                   &made);
            }
        } catch (const CkError& e) {
            rv = e.rv();
        }
        if (rv == CKR_OK) {
            result.made.push_back({target, made});
            continue;
        }
        if (classify(rv) == RvClass::MemberFault) {
            cluster.memberFault(target, rv, "key copy");
            result.faulted.push_back(target);
        }
        log::error("member ", to.name(), ": copying a key or object failed: ", rvName(rv));
        result.missed.push_back(target);
    }
    if (!blob.empty()) ::explicit_bzero(blob.data(), blob.size());
    return result;
}

}  // namespace p11c::replication
