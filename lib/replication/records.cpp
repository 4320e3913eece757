#include "replication/records.h"

#include <openssl/rand.h>

#include <stdexcept>

#include "core/identity.h"
#include "member/member.h"
#include "replication/handover.h"
#include "util/error.h"

namespace p11c::replication {
namespace {

constexpr char kApplication[] = "p11cluster";

std::vector<CK_OBJECT_HANDLE> records(Member& member, CK_SESSION_HANDLE session,
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

std::optional<std::vector<CK_BYTE>> readRecord(Member& member, CK_SESSION_HANDLE session,
                                               const std::string& label) {
    static constexpr CK_ATTRIBUTE_TYPE kValue[] = {CKA_VALUE};
    for (CK_OBJECT_HANDLE h : records(member, session, label))
        if (auto value = readAttributes(member, session, h, kValue)[0]) return value;
    return std::nullopt;
}

void replaceRecord(Member& member, CK_SESSION_HANDLE session, const std::string& label,
                   std::span<const CK_BYTE> value) {
    std::vector<CK_OBJECT_HANDLE> old;
    try {
        old = records(member, session, label);
    } catch (const CkError& e) {
        need(e.rv(), member, "reading the record \"" + label + "\"");
    }
    CK_OBJECT_CLASS data = CKO_DATA;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE templ[] = {
        {CKA_CLASS, &data, sizeof data},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
        {CKA_APPLICATION, const_cast<char*>(kApplication), sizeof kApplication - 1},
        {CKA_VALUE, const_cast<CK_BYTE*>(value.data()), value.size()}};
    CK_OBJECT_HANDLE made;
    need(member.call(&CK_FUNCTION_LIST::C_CreateObject, session, templ, CK_ULONG{6}, &made), member,
         "writing the record \"" + label + "\"");
    for (CK_OBJECT_HANDLE h : old) member.call(&CK_FUNCTION_LIST::C_DestroyObject, session, h);
}

void removeRecords(Member& member, CK_SESSION_HANDLE session, const std::string& label) {
    for (CK_OBJECT_HANDLE h : records(member, session, label))
        member.call(&CK_FUNCTION_LIST::C_DestroyObject, session, h);
}

std::string toHex(std::span<const CK_BYTE> bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (CK_BYTE b : bytes) out += {kHex[b >> 4], kHex[b & 15]};
    return out;
}

std::optional<std::vector<CK_BYTE>> fromHex(const std::string& text) {
    if (text.size() % 2 != 0 ||
        text.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
        return std::nullopt;
    std::vector<CK_BYTE> out;
    for (size_t i = 0; i < text.size(); i += 2)
        out.push_back(static_cast<CK_BYTE>(std::stoi(text.substr(i, 2), nullptr, 16)));
    return out;
}

std::vector<CK_BYTE> randomBytes(size_t size) {
    std::vector<CK_BYTE> out(size);
    if (RAND_bytes(out.data(), static_cast<int>(size)) != 1)
        throw std::runtime_error("the random number generator failed");
    return out;
}

}  // namespace p11c::replication
