// Chapter 5.7 of the specification: object management.
#include <shared_mutex>

#include "core/api.h"
#include "core/objects.h"
#include "core/runtime.h"

namespace p11c::api {
namespace {

bool badTemplate(CK_ATTRIBUTE_PTR templ, CK_ULONG count) {
    return templ == nullptr && count != 0;
}

}  // namespace

CK_RV C_CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
                     CK_OBJECT_HANDLE_PTR phObject) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (badTemplate(pTemplate, ulCount) || phObject == nullptr) return CKR_ARGUMENTS_BAD;
    std::lock_guard lock(session->mutex);
    std::shared_lock gate(cluster.writeGate());
    *phObject = objects::create(cluster, *session, pTemplate, ulCount);
    return CKR_OK;
}

CK_RV C_CopyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
                   CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phNewObject) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (badTemplate(pTemplate, ulCount) || phNewObject == nullptr) return CKR_ARGUMENTS_BAD;
    std::lock_guard lock(session->mutex);
    std::shared_lock gate(cluster.writeGate());
    *phNewObject = objects::copy(cluster, *session, hObject, pTemplate, ulCount);
    return CKR_OK;
}

CK_RV C_DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    std::lock_guard lock(session->mutex);
    std::shared_lock gate(cluster.writeGate());
    objects::destroy(cluster, *session, hObject);
    return CKR_OK;
}

CK_RV C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (pulSize == nullptr) return CKR_ARGUMENTS_BAD;
    std::lock_guard lock(session->mutex);
    *pulSize = objects::size(cluster, *session, hObject);
    return CKR_OK;
}

CK_RV C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                          CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (pTemplate == nullptr || ulCount == 0) return CKR_ARGUMENTS_BAD;
    std::lock_guard lock(session->mutex);
    return objects::getAttributes(cluster, *session, hObject, pTemplate, ulCount);
}

CK_RV C_SetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                          CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (pTemplate == nullptr || ulCount == 0) return CKR_ARGUMENTS_BAD;
    std::lock_guard lock(session->mutex);
    std::shared_lock gate(cluster.writeGate());
    objects::setAttributes(cluster, *session, hObject, pTemplate, ulCount);
    return CKR_OK;
}

CK_RV C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (badTemplate(pTemplate, ulCount)) return CKR_ARGUMENTS_BAD;
    std::lock_guard lock(session->mutex);
    objects::findInit(cluster, *session, pTemplate, ulCount);
    return CKR_OK;
}

CK_RV C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
                    CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if ((phObject == nullptr && ulMaxObjectCount != 0) || pulObjectCount == nullptr)
        return CKR_ARGUMENTS_BAD;
    std::lock_guard lock(session->mutex);
    objects::find(*session, phObject, ulMaxObjectCount, pulObjectCount);
    return CKR_OK;
}

CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE hSession) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    std::lock_guard lock(session->mutex);
    objects::findFinal(*session);
    return CKR_OK;
}

}  // namespace p11c::api
