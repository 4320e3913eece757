// The one guard every exported entry point runs its body in: no exception
// crosses the C ABI. CkError becomes its CK_RV; running out of memory
// becomes CKR_HOST_MEMORY; anything else is a bug, reported as
// CKR_GENERAL_ERROR and logged.
#pragma once

#include <pkcs11.h>

#include <new>

#include "util/error.h"
#include "util/log.h"

namespace p11c::module {

template <class Body>
CK_RV guard(const char* function, Body&& body) noexcept {
    try {
        return body();
    } catch (const CkError& e) {
        return e.rv();
    } catch (const std::bad_alloc&) {
        return CKR_HOST_MEMORY;
    } catch (const std::exception& e) {
        log::error(function, ": internal error: ", e.what());
    } catch (...) {
        log::error(function, ": internal error");
    }
    return CKR_GENERAL_ERROR;
}

}  // namespace p11c::module
