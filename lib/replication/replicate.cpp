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

CK_OBJECT_CLASS classOf(Member& member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object) {
    CK_OBJECT_CLASS cls = 0;
    CK_ATTRIBUTE attr{CKA_CLASS, &cls, sizeof cls};
    check(member.call(&CK_FUNCTION_LIST::C_GetAttributeValue, session, object, &attr, CK_ULONG{1}));
    return cls;
}

}  // namespace

Exported::~Exported() {
    if (!wrapped.empty()) ::explicit_bzero(wrapped.data(), wrapped.size());
}

bool carriesSecret(CK_OBJECT_CLASS cls) {
    return cls != CKO_PUBLIC_KEY && cls != CKO_CERTIFICATE && cls != CKO_DATA;
}

Exported exportObject(Member& member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                      CK_OBJECT_HANDLE wrappingKey, CK_MECHANISM_TYPE mechanism) {
    Exported out;
    out.cls = classOf(member, session, object);
    const auto types = carried(out.cls);
    AttributeValues values = readAttributes(member, session, object, types);
    for (size_t i = 0; i < types.size(); ++i)
        if (values[i]) out.attributes.emplace_back(types[i], std::move(*values[i]));
    if (!carriesSecret(out.cls)) return out;
    CK_MECHANISM wrap{mechanism, nullptr, 0};
    CK_ULONG length = 0;
    check(member.call(&CK_FUNCTION_LIST::C_WrapKey, session, &wrap, wrappingKey, object, nullptr,
                      &length));
    out.wrapped.resize(length);
    check(member.call(&CK_FUNCTION_LIST::C_WrapKey, session, &wrap, wrappingKey, object,
                      out.wrapped.data(), &length));
    out.wrapped.resize(length);
    return out;
}

CK_RV importObject(Member& member, CK_SESSION_HANDLE session, const Exported& object,
                   CK_OBJECT_HANDLE unwrappingKey, CK_MECHANISM_TYPE mechanism,
                   CK_OBJECT_HANDLE* made, bool locked) {
    static CK_BBOOL yes = CK_TRUE;
    std::vector<CK_ATTRIBUTE> templ;
    for (const auto& [type, value] : object.attributes) {
        if (locked && (type == CKA_SENSITIVE || type == CKA_WRAP_WITH_TRUSTED)) continue;
        templ.push_back(
            {type, const_cast<CK_BYTE*>(value.data()), static_cast<CK_ULONG>(value.size())});
    }
    if (locked && carriesSecret(object.cls)) {
        templ.push_back({CKA_SENSITIVE, &yes, sizeof yes});
        templ.push_back({CKA_WRAP_WITH_TRUSTED, &yes, sizeof yes});
    }
    const auto count = static_cast<CK_ULONG>(templ.size());
    if (!carriesSecret(object.cls))
        return member.call(&CK_FUNCTION_LIST::C_CreateObject, session, templ.data(), count, made);
    if (unwrappingKey == CK_INVALID_HANDLE) return CKR_UNWRAPPING_KEY_HANDLE_INVALID;
    CK_MECHANISM unwrap{mechanism, nullptr, 0};
    return member.call(&CK_FUNCTION_LIST::C_UnwrapKey, session, &unwrap, unwrappingKey,
                       const_cast<CK_BYTE*>(object.wrapped.data()),
                       static_cast<CK_ULONG>(object.wrapped.size()), templ.data(), count, made);
}

bool heldLocked(Member& member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key) {
    CK_BBOOL trusted = CK_FALSE;
    CK_ATTRIBUTE attr{CKA_WRAP_WITH_TRUSTED, &trusted, sizeof trusted};
    check(member.call(&CK_FUNCTION_LIST::C_GetAttributeValue, session, key, &attr, CK_ULONG{1}));
    return trusted != CK_FALSE;
}

namespace {

// A carrier's attributes (the first eleven are its unwrap template). A
// session object, public so that a cluster still on an earlier release's
// public transport key copies without login as it did; it can carry only
// keys the caller made extractable, and itself travels only under trusted
// keys.
struct CarrierTemplate {
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_AES;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG length = 32;
    CK_MECHANISM_TYPE allowed = kTransportWrap;
    CK_ATTRIBUTE attrs[12] = {{CKA_CLASS, &cls, sizeof cls},
                              {CKA_KEY_TYPE, &type, sizeof type},
                              {CKA_TOKEN, &no, sizeof no},
                              {CKA_PRIVATE, &no, sizeof no},
                              {CKA_SENSITIVE, &yes, sizeof yes},
                              {CKA_WRAP_WITH_TRUSTED, &yes, sizeof yes},
                              {CKA_WRAP, &yes, sizeof yes},
                              {CKA_UNWRAP, &yes, sizeof yes},
                              {CKA_ENCRYPT, &no, sizeof no},
                              {CKA_DECRYPT, &no, sizeof no},
                              {CKA_ALLOWED_MECHANISMS, &allowed, sizeof allowed},
                              {CKA_VALUE_LEN, &length, sizeof length}};
};

}  // namespace

CK_OBJECT_HANDLE makeCarrier(Member& member, CK_SESSION_HANDLE session) {
    CarrierTemplate t;
    CK_ATTRIBUTE extractable{CKA_EXTRACTABLE, &t.yes, sizeof t.yes};
    std::vector<CK_ATTRIBUTE> templ(std::begin(t.attrs), std::end(t.attrs));
    templ.push_back(extractable);
    CK_MECHANISM keyGen{CKM_AES_KEY_GEN, nullptr, 0};
    CK_OBJECT_HANDLE carrier;
    check(member.call(&CK_FUNCTION_LIST::C_GenerateKey, session, &keyGen, templ.data(),
                      static_cast<CK_ULONG>(templ.size()), &carrier));
    return carrier;
}

CK_RV receiveCarrier(Member& member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE clusterKey,
                     const std::vector<CK_BYTE>& blob, CK_OBJECT_HANDLE* made) {
    CarrierTemplate t;
    CK_MECHANISM unwrap{kTransportWrap, nullptr, 0};
    return member.call(&CK_FUNCTION_LIST::C_UnwrapKey, session, &unwrap, clusterKey,
                       const_cast<CK_BYTE*>(blob.data()), static_cast<CK_ULONG>(blob.size()),
                       t.attrs, CK_ULONG{11}, made);
}

std::vector<CK_BYTE> wrapUnder(Member& member, CK_SESSION_HANDLE session,
                               CK_OBJECT_HANDLE wrappingKey, CK_OBJECT_HANDLE key) {
    CK_MECHANISM wrap{kTransportWrap, nullptr, 0};
    CK_ULONG length = 0;
    check(member.call(&CK_FUNCTION_LIST::C_WrapKey, session, &wrap, wrappingKey, key, nullptr,
                      &length));
    std::vector<CK_BYTE> blob(length);
    check(member.call(&CK_FUNCTION_LIST::C_WrapKey, session, &wrap, wrappingKey, key, blob.data(),
                      &length));
    blob.resize(length);
    return blob;
}

CopyResult copyKey(Cluster& cluster, Session& session, unsigned source, CK_OBJECT_HANDLE key,
                   std::span<const unsigned> targets) {
    CopyResult result;
    if (targets.empty()) return result;
    Member& from = cluster.member(source);
    Exported exported;
    std::vector<CK_BYTE> carrierBlob;  // the carrier, wrapped under the transport key
    bool locked = false;
    try {
        CK_SESSION_HANDLE fromSession = session.memberSessionLocked(source);
        CK_OBJECT_HANDLE transport = CK_INVALID_HANDLE;
        if (carriesSecret(classOf(from, fromSession, key))) {
            transport = cluster.transportKey(source);
            if (transport == CK_INVALID_HANDLE) {
                result.needsLogin = cluster.loginState() != CKU_USER;
                if (result.needsLogin)
                    log::error(
                        "a new key can be copied to the other members only while the user "
                        "is logged in (the transport key is private)");
                else
                    log::error("member ", from.name(),
                               ": no cluster transport key (run `p11cluster init`); "
                               "a generated key cannot be copied to the other members");
                result.missed.assign(targets.begin(), targets.end());
                return result;
            }
            locked = heldLocked(from, fromSession, key);
        }
        if (transport == CK_INVALID_HANDLE || locked) {
            exported = exportObject(from, fromSession, key, transport, kTransportWrap);
        } else {
            CK_OBJECT_HANDLE carrier = makeCarrier(from, fromSession);
            try {
                carrierBlob = wrapUnder(from, fromSession, transport, carrier);
                exported = exportObject(from, fromSession, key, carrier, kTransportWrap);
            } catch (const CkError&) {
                from.call(&CK_FUNCTION_LIST::C_DestroyObject, fromSession, carrier);
                throw;
            }
            from.call(&CK_FUNCTION_LIST::C_DestroyObject, fromSession, carrier);
        }
    } catch (const CkError& e) {
        result.notWrappable = e.rv() == CKR_KEY_NOT_WRAPPABLE;
        // The source failed: marked, so that a generation tries elsewhere.
        if (cluster.lostMember(e.rv())) cluster.memberFault(source, e.rv(), "key copy");
        log::error("member ", from.name(),
                   ": reading or wrapping a key to copy it failed: ", rvName(e.rv()));
        result.missed.assign(targets.begin(), targets.end());
        return result;
    }

    for (unsigned target : targets) {
        Member& to = cluster.member(target);
        CK_OBJECT_HANDLE made = CK_INVALID_HANDLE;
        CK_RV rv;
        try {
            CK_SESSION_HANDLE s = session.memberSessionLocked(target);
            CK_OBJECT_HANDLE under =
                carriesSecret(exported.cls) ? cluster.transportKey(target) : CK_INVALID_HANDLE;
            CK_OBJECT_HANDLE carrier = CK_INVALID_HANDLE;
            rv = carrierBlob.empty() || under == CK_INVALID_HANDLE
                     ? CKR_OK
                     : receiveCarrier(to, s, under, carrierBlob, &carrier);
            if (rv == CKR_OK)
                rv = importObject(to, s, exported, carrierBlob.empty() ? under : carrier,
                                  kTransportWrap, &made, locked);
            if (carrier != CK_INVALID_HANDLE)
                to.call(&CK_FUNCTION_LIST::C_DestroyObject, s, carrier);
        } catch (const CkError& e) {
            rv = e.rv();
        }
        if (rv == CKR_OK) {
            result.made.push_back({target, made});
            continue;
        }
        if (cluster.lostMember(rv)) {
            cluster.memberFault(target, rv, "key copy");
            result.faulted.push_back(target);
        }
        log::error("member ", to.name(), ": copying a key or object failed: ", rvName(rv));
        result.missed.push_back(target);
    }
    if (!carrierBlob.empty()) ::explicit_bzero(carrierBlob.data(), carrierBlob.size());
    return result;
}

}  // namespace p11c::replication
