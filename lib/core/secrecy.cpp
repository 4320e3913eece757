#include "core/secrecy.h"

#include <cstring>

#include "core/cluster.h"
#include "core/objects.h"
#include "core/views.h"
#include "util/error.h"
#include "util/log.h"

namespace p11c::secrecy {

bool secretAttribute(CK_ATTRIBUTE_TYPE type) {
    switch (type) {
        case CKA_VALUE:
        case CKA_PRIVATE_EXPONENT:
        case CKA_PRIME_1:
        case CKA_PRIME_2:
        case CKA_EXPONENT_1:
        case CKA_EXPONENT_2:
        case CKA_COEFFICIENT:
            return true;
        default:
            return false;
    }
}

bool anySecretAttribute(const CK_ATTRIBUTE* templ, CK_ULONG count) {
    for (CK_ULONG i = 0; i < count; ++i)
        if (secretAttribute(templ[i].type)) return true;
    return false;
}

bool lockedOnMembers(const CallerView& view) {
    return !view.extractable || view.wrapWithTrusted;
}

CK_RV applyView(Cluster& cluster, Session& session, CK_OBJECT_HANDLE object, const CallerView& view,
                CK_ATTRIBUTE_PTR templ, CK_ULONG count, CK_RV rv) {
    if (view.sensitive)
        for (CK_ULONG i = 0; i < count; ++i) {
            CK_ATTRIBUTE& a = templ[i];
            if (a.type != CKA_SENSITIVE || a.ulValueLen == CK_UNAVAILABLE_INFORMATION) continue;
            if (a.pValue != nullptr && a.ulValueLen >= sizeof(CK_BBOOL))
                *static_cast<CK_BBOOL*>(a.pValue) = *view.sensitive;
            a.ulValueLen = sizeof(CK_BBOOL);
        }
    const bool hidden = !view.extractable || view.sensitive.value_or(CK_FALSE) != CK_FALSE;
    if (!hidden || !anySecretAttribute(templ, count)) return rv;
    auto identity = objects::identityLocked(cluster, session, object);
    if (!identity || (identity->cls != CKO_PRIVATE_KEY && identity->cls != CKO_SECRET_KEY))
        return rv;
    bool hid = false;
    for (CK_ULONG i = 0; i < count; ++i) {
        CK_ATTRIBUTE& a = templ[i];
        if (!secretAttribute(a.type)) continue;
        // What a member wrote into the caller's buffer goes first.
        if (a.pValue != nullptr && a.ulValueLen != CK_UNAVAILABLE_INFORMATION)
            ::explicit_bzero(a.pValue, a.ulValueLen);
        a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
        hid = true;
    }
    return hid && rv == CKR_OK ? CKR_ATTRIBUTE_SENSITIVE : rv;
}

bool changeView(CallerView& view, const CK_ATTRIBUTE& attribute) {
    if (attribute.type != CKA_SENSITIVE || !view.sensitive) return false;
    if (attribute.pValue == nullptr || attribute.ulValueLen != sizeof(CK_BBOOL))
        throw CkError(CKR_ATTRIBUTE_VALUE_INVALID);
    const CK_BBOOL value = *static_cast<const CK_BBOOL*>(attribute.pValue) ? CK_TRUE : CK_FALSE;
    if (!value && *view.sensitive) throw CkError(CKR_ATTRIBUTE_READ_ONLY);
    view.sensitive = value;
    return true;
}

void lockIfNowFixed(Cluster& cluster, Session& session, CK_OBJECT_HANDLE object,
                    const CallerView& before, CallerView& next, std::vector<CK_ATTRIBUTE>& kept) {
    if (!before.extractable || next.extractable || lockedOnMembers(before)) return;
    auto identity = objects::identityLocked(cluster, session, object);
    if (!identity || (identity->cls != CKO_PRIVATE_KEY && identity->cls != CKO_SECRET_KEY)) return;
    if (!next.sensitive) {
        // The members hold it as the caller made it: their answer is the caller's.
        CK_BBOOL sensitive = CK_FALSE;
        CK_ATTRIBUTE attr{CKA_SENSITIVE, &sensitive, sizeof sensitive};
        check(objects::getAttributes(cluster, session, object, &attr, 1));
        next.sensitive = sensitive ? CK_TRUE : CK_FALSE;
    }
    // A CKA_SENSITIVE in the same template is the view's now.
    std::erase_if(kept, [&](const CK_ATTRIBUTE& a) { return changeView(next, a); });
    // SoftHSM fixes CKA_WRAP_WITH_TRUSTED when a key is made: the members'
    // copies cannot become trusted-only now, so they become what the caller
    // asked for, for real (a member that lacks the key can no longer be
    // given it; docs/security.md).
    static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    kept.push_back({CKA_EXTRACTABLE, &no, sizeof no});
    kept.push_back({CKA_SENSITIVE, &yes, sizeof yes});
}

CK_RV wrappable(Cluster& cluster, Session& session, CK_OBJECT_HANDLE key,
                CK_OBJECT_HANDLE wrappingKey) {
    auto view = objects::callerView(cluster, session, key);
    if (!view) return CKR_OK;  // the members hold it as the caller made it
    if (!view->extractable) return CKR_KEY_UNEXTRACTABLE;
    if (!view->wrapWithTrusted) return CKR_OK;
    CK_BBOOL trusted = CK_FALSE;
    CK_ATTRIBUTE attr{CKA_TRUSTED, &trusted, sizeof trusted};
    CK_RV rv = objects::getAttributes(cluster, session, wrappingKey, &attr, 1);
    if (rv == CKR_OBJECT_HANDLE_INVALID) return CKR_WRAPPING_KEY_HANDLE_INVALID;
    return rv == CKR_OK && trusted ? CKR_OK : CKR_KEY_NOT_WRAPPABLE;
}

CK_RV digestible(Cluster& cluster, Session& session, CK_OBJECT_HANDLE key) {
    CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE;
    CK_ATTRIBUTE attrs[] = {{CKA_SENSITIVE, &sensitive, sizeof sensitive},
                            {CKA_EXTRACTABLE, &extractable, sizeof extractable}};
    CK_RV rv;
    try {
        rv = objects::getAttributes(cluster, session, key, attrs, 2);
    } catch (const CkError& e) {
        rv = e.rv();
    }
    if (rv == CKR_OBJECT_HANDLE_INVALID) return CKR_KEY_HANDLE_INVALID;
    if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID) return rv;
    const bool isSensitive = attrs[0].ulValueLen == sizeof sensitive && sensitive != CK_FALSE;
    const bool isFixed = attrs[1].ulValueLen == sizeof extractable && extractable == CK_FALSE;
    return isSensitive || isFixed ? CKR_KEY_INDIGESTIBLE : CKR_OK;
}

void noteDerived(Cluster& cluster, Session& session, CK_OBJECT_HANDLE base,
                 CK_OBJECT_HANDLE derived) {
    std::shared_ptr<const CallerView> baseView;
    try {
        baseView = objects::callerView(cluster, session, base);
    } catch (const CkError&) {
        return;  // the base is gone: the members' attributes stand
    }
    if (!baseView) return;
    CK_BBOOL extractable = CK_FALSE, sensitive = CK_TRUE, trusted = CK_FALSE;
    CK_ATTRIBUTE attrs[] = {{CKA_EXTRACTABLE, &extractable, sizeof extractable},
                            {CKA_SENSITIVE, &sensitive, sizeof sensitive},
                            {CKA_WRAP_WITH_TRUSTED, &trusted, sizeof trusted}};
    CK_RV rv = objects::withObjectLocked(
        cluster, session, derived, cluster.usableMembers(), "C_DeriveKey",
        [&](unsigned m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h) {
            return cluster.member(m).call(&CK_FUNCTION_LIST::C_GetAttributeValue, s, h, attrs,
                                          CK_ULONG{3});
        });
    if (rv != CKR_OK) return;  // not a key with these: the members' attributes stand
    CallerView view;
    view.extractable = extractable;
    view.wrapWithTrusted = trusted;
    view.neverExtractable = baseView->neverExtractable && !extractable ? CK_TRUE : CK_FALSE;
    view.alwaysSensitive = baseView->alwaysSensitive && sensitive ? CK_TRUE : CK_FALSE;
    view.local = CK_FALSE;
    auto shared = std::make_shared<const CallerView>(view);
    cluster.objects().setView(derived, shared);
    if (!cluster.objects().isToken(derived)) return;
    auto identity = objects::identityLocked(cluster, session, derived);
    if (!identity || !views::recorded(*identity)) return;
    std::vector<unsigned> holders;
    for (const Placement& p : cluster.objects().placements(derived)) holders.push_back(p.member);
    views::store(cluster, session, *identity, view, holders);
}

}  // namespace p11c::secrecy
