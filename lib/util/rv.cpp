#include "util/rv.h"

#include <cstdio>

#include "util/error.h"

namespace p11c {
namespace {

#define RV(name, cls) \
    { name, #name, RvClass::cls }

// Ordered by value, as the specification lists them.
const RvInfo kTable[] = {
    RV(CKR_OK, Ok),
    RV(CKR_CANCEL, Caller),
    RV(CKR_HOST_MEMORY, MemberFault),
    RV(CKR_SLOT_ID_INVALID, MemberFault),
    // SoftHSM answers some bad input (a ciphertext that does not decrypt)
    // with CKR_GENERAL_ERROR: it is the caller's result, not a broken member.
    RV(CKR_GENERAL_ERROR, Result),
    RV(CKR_FUNCTION_FAILED, Result),
    RV(CKR_ARGUMENTS_BAD, Caller),
    RV(CKR_NO_EVENT, Result),
    RV(CKR_NEED_TO_CREATE_THREADS, Caller),
    RV(CKR_CANT_LOCK, Caller),
    RV(CKR_ATTRIBUTE_READ_ONLY, Caller),
    RV(CKR_ATTRIBUTE_SENSITIVE, Caller),
    RV(CKR_ATTRIBUTE_TYPE_INVALID, Caller),
    RV(CKR_ATTRIBUTE_VALUE_INVALID, Caller),
    RV(CKR_ACTION_PROHIBITED, Caller),
    RV(CKR_DATA_INVALID, Caller),
    RV(CKR_DATA_LEN_RANGE, Caller),
    RV(CKR_DEVICE_ERROR, MemberFault),
    RV(CKR_DEVICE_MEMORY, MemberFault),
    RV(CKR_DEVICE_REMOVED, MemberFault),
    RV(CKR_ENCRYPTED_DATA_INVALID, Caller),
    RV(CKR_ENCRYPTED_DATA_LEN_RANGE, Caller),
    RV(CKR_AEAD_DECRYPT_FAILED, Result),
    RV(CKR_FUNCTION_CANCELED, Caller),
    RV(CKR_FUNCTION_NOT_PARALLEL, Unsupported),
    RV(CKR_FUNCTION_NOT_SUPPORTED, Unsupported),
    RV(CKR_KEY_HANDLE_INVALID, Caller),
    RV(CKR_KEY_SIZE_RANGE, Caller),
    RV(CKR_KEY_TYPE_INCONSISTENT, Caller),
    RV(CKR_KEY_NOT_NEEDED, Caller),
    RV(CKR_KEY_CHANGED, Caller),
    RV(CKR_KEY_NEEDED, Caller),
    RV(CKR_KEY_INDIGESTIBLE, Caller),
    RV(CKR_KEY_FUNCTION_NOT_PERMITTED, Caller),
    RV(CKR_KEY_NOT_WRAPPABLE, Caller),
    RV(CKR_KEY_UNEXTRACTABLE, Caller),
    RV(CKR_MECHANISM_INVALID, Caller),
    RV(CKR_MECHANISM_PARAM_INVALID, Caller),
    RV(CKR_OBJECT_HANDLE_INVALID, Caller),
    RV(CKR_OPERATION_ACTIVE, Caller),
    RV(CKR_OPERATION_NOT_INITIALIZED, Caller),
    RV(CKR_PIN_INCORRECT, Auth),
    RV(CKR_PIN_INVALID, Auth),
    RV(CKR_PIN_LEN_RANGE, Auth),
    RV(CKR_PIN_EXPIRED, Auth),
    RV(CKR_PIN_LOCKED, Auth),
    RV(CKR_SESSION_CLOSED, SessionLost),
    RV(CKR_SESSION_COUNT, MemberFault),
    RV(CKR_SESSION_HANDLE_INVALID, SessionLost),
    RV(CKR_SESSION_PARALLEL_NOT_SUPPORTED, Caller),
    RV(CKR_SESSION_READ_ONLY, Caller),
    RV(CKR_SESSION_EXISTS, Caller),
    RV(CKR_SESSION_READ_ONLY_EXISTS, Caller),
    RV(CKR_SESSION_READ_WRITE_SO_EXISTS, Caller),
    RV(CKR_SIGNATURE_INVALID, Result),
    RV(CKR_SIGNATURE_LEN_RANGE, Result),
    RV(CKR_TEMPLATE_INCOMPLETE, Caller),
    RV(CKR_TEMPLATE_INCONSISTENT, Caller),
    RV(CKR_TOKEN_NOT_PRESENT, MemberFault),
    RV(CKR_TOKEN_NOT_RECOGNIZED, MemberFault),
    RV(CKR_TOKEN_WRITE_PROTECTED, Caller),
    RV(CKR_UNWRAPPING_KEY_HANDLE_INVALID, Caller),
    RV(CKR_UNWRAPPING_KEY_SIZE_RANGE, Caller),
    RV(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, Caller),
    RV(CKR_USER_ALREADY_LOGGED_IN, Auth),
    RV(CKR_USER_NOT_LOGGED_IN, SessionLost),
    RV(CKR_USER_PIN_NOT_INITIALIZED, Auth),
    RV(CKR_USER_TYPE_INVALID, Caller),
    RV(CKR_USER_ANOTHER_ALREADY_LOGGED_IN, Auth),
    RV(CKR_USER_TOO_MANY_TYPES, Auth),
    RV(CKR_WRAPPED_KEY_INVALID, Caller),
    RV(CKR_WRAPPED_KEY_LEN_RANGE, Caller),
    RV(CKR_WRAPPING_KEY_HANDLE_INVALID, Caller),
    RV(CKR_WRAPPING_KEY_SIZE_RANGE, Caller),
    RV(CKR_WRAPPING_KEY_TYPE_INCONSISTENT, Caller),
    RV(CKR_RANDOM_SEED_NOT_SUPPORTED, Unsupported),
    RV(CKR_RANDOM_NO_RNG, Unsupported),
    RV(CKR_DOMAIN_PARAMS_INVALID, Caller),
    RV(CKR_CURVE_NOT_SUPPORTED, Unsupported),
    RV(CKR_BUFFER_TOO_SMALL, Result),
    RV(CKR_SAVED_STATE_INVALID, Caller),
    RV(CKR_INFORMATION_SENSITIVE, Caller),
    RV(CKR_STATE_UNSAVEABLE, Unsupported),
    RV(CKR_CRYPTOKI_NOT_INITIALIZED, MemberFault),
    RV(CKR_CRYPTOKI_ALREADY_INITIALIZED, Caller),
    RV(CKR_MUTEX_BAD, Caller),
    RV(CKR_MUTEX_NOT_LOCKED, Caller),
    RV(CKR_NEW_PIN_MODE, Auth),
    RV(CKR_NEXT_OTP, Auth),
    RV(CKR_EXCEEDED_MAX_ITERATIONS, Caller),
    RV(CKR_FIPS_SELF_TEST_FAILED, MemberFault),
    RV(CKR_LIBRARY_LOAD_FAILED, MemberFault),
    RV(CKR_PIN_TOO_WEAK, Auth),
    RV(CKR_PUBLIC_KEY_INVALID, Caller),
    RV(CKR_FUNCTION_REJECTED, Caller),
    RV(CKR_TOKEN_RESOURCE_EXCEEDED, MemberFault),
    RV(CKR_OPERATION_CANCEL_FAILED, Caller),
};

#undef RV

}  // namespace

const RvInfo* knownRvs(unsigned long* count) noexcept {
    *count = sizeof kTable / sizeof kTable[0];
    return kTable;
}

RvClass classify(CK_RV rv) noexcept {
    for (const RvInfo& info : kTable)
        if (info.rv == rv) return info.cls;
    // Vendor-defined and unknown values: a token speaking outside the
    // specification is not something the caller can act on.
    return RvClass::MemberFault;
}

const char* rvClassName(RvClass c) noexcept {
    switch (c) {
        case RvClass::Ok:
            return "ok";
        case RvClass::MemberFault:
            return "member-fault";
        case RvClass::SessionLost:
            return "session-lost";
        case RvClass::Auth:
            return "auth";
        case RvClass::Caller:
            return "caller";
        case RvClass::Unsupported:
            return "unsupported";
        case RvClass::Result:
            return "result";
    }
    return "?";
}

const char* rvName(CK_RV rv) noexcept {
    for (const RvInfo& info : kTable)
        if (info.rv == rv) return info.name;
    thread_local char buffer[32];
    std::snprintf(buffer, sizeof buffer, "CKR_0x%08lx", static_cast<unsigned long>(rv));
    return buffer;
}

}  // namespace p11c
