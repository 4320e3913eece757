#include "tools/backup_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>

#include "core/views.h"
#include "member/member.h"
#include "remote/wire.h"

namespace p11c::tool::backupfile {
namespace {

constexpr char kMagic1[] = "P11CBAK1";
constexpr char kMagic2[] = "P11CBAK2";
constexpr size_t kMagicSize = sizeof kMagic1 - 1;

}  // namespace

int versionOf(const std::vector<CK_BYTE>& bytes) {
    if (bytes.size() < kMagicSize) return 0;
    if (std::memcmp(bytes.data(), kMagic1, kMagicSize) == 0) return 1;
    if (std::memcmp(bytes.data(), kMagic2, kMagicSize) == 0) return 2;
    return 0;
}

std::vector<CK_BYTE> encodeBody(const BackupFile& file) {
    remote::Writer w;
    w.raw(file.version == 1 ? kMagic1 : kMagic2, kMagicSize);
    w.u64(file.written);
    w.bytes(file.label.data(), file.label.size());
    if (file.version >= 2) {
        w.bytes(file.clusterId.data(), file.clusterId.size());
        w.bytes(file.backupKey.data(), file.backupKey.size());
    }
    w.bytes(file.macKey.data(), file.macKey.size());
    if (file.version >= 2) w.bytes(file.fileKey.data(), file.fileKey.size());
    w.u64(file.objects.size());
    for (const Object& object : file.objects) {
        w.u64(object.exported.cls);
        w.u64(object.exported.attributes.size());
        for (const auto& [type, value] : object.exported.attributes) {
            w.u64(type);
            w.bytes(value.data(), value.size());
        }
        if (file.version >= 2) w.u8(object.under);
        w.bytes(object.exported.wrapped.data(), object.exported.wrapped.size());
    }
    return std::move(w.buffer());
}

std::optional<BackupFile> decodeBody(const std::vector<CK_BYTE>& body) {
    BackupFile file;
    file.version = versionOf(body);
    if (file.version == 0) return std::nullopt;
    remote::Reader r(body.data(), body.size());
    char magic[kMagicSize];
    r.raw(magic, sizeof magic);
    file.written = r.u64();
    auto label = r.bytes(4096);
    file.label.assign(label.begin(), label.end());
    if (file.version >= 2) {
        file.clusterId = r.bytes(64);
        auto serial = r.bytes(64);
        file.backupKey.assign(serial.begin(), serial.end());
    }
    file.macKey = r.bytes(4096);
    if (file.version >= 2) file.fileKey = r.bytes(4096);
    const uint64_t count = r.u64();
    if (!r.ok() || count > body.size()) return std::nullopt;
    for (uint64_t i = 0; i < count && r.ok(); ++i) {
        Object object;
        object.exported.cls = r.u64();
        const uint64_t attributes = r.u64();
        if (attributes > 256) return std::nullopt;
        for (uint64_t a = 0; a < attributes && r.ok(); ++a) {
            CK_ATTRIBUTE_TYPE type = r.u64();
            object.exported.attributes.emplace_back(type, r.bytes(1 << 20));
        }
        if (file.version >= 2)
            object.under = r.u8();
        else
            object.under =
                replication::carriesSecret(object.exported.cls) ? kUnderBackupKey : kUnderNothing;
        if (object.under > kUnderFileKey) return std::nullopt;
        object.exported.wrapped = r.bytes(1 << 20);
        file.objects.push_back(std::move(object));
    }
    if (!r.ok() || !r.atEnd()) return std::nullopt;
    return file;
}

void writeFile(const std::string& path, const std::vector<CK_BYTE>& bytes) {
    // A fresh name made with O_EXCL: nothing planted at a guessable
    // temporary name (a symbolic link, another user's file) is followed.
    std::string temporary = path + ".XXXXXX";
    int fd = ::mkostemp(temporary.data(), O_CLOEXEC);
    if (fd < 0) throw std::runtime_error(path + ": cannot write: " + std::strerror(errno));
    auto fail = [&](const char* what) {
        const int error = errno;
        ::close(fd);
        ::unlink(temporary.c_str());
        throw std::runtime_error(path + ": " + what + ": " + std::strerror(error));
    };
    if (::fchmod(fd, 0600) != 0) fail("cannot set its mode");
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n <= 0) fail("write failed");
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) fail("write failed");
    if (::close(fd) != 0) {
        ::unlink(temporary.c_str());
        throw std::runtime_error(path + ": write failed: " + std::strerror(errno));
    }
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
        const int error = errno;
        ::unlink(temporary.c_str());
        throw std::runtime_error(path + ": write failed: " + std::strerror(error));
    }
}

std::vector<CK_BYTE> readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot read: " + std::strerror(errno));
    return std::vector<CK_BYTE>(std::istreambuf_iterator<char>(in), {});
}

CK_RV hmac(Member& member, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE mac,
           const std::vector<CK_BYTE>& body, CK_BYTE* out, bool verify) {
    CK_MECHANISM mech{CKM_SHA256_HMAC, nullptr, 0};
    auto data = const_cast<CK_BYTE*>(body.data());
    auto size = static_cast<CK_ULONG>(body.size());
    if (verify) {
        CK_RV rv = member.call(&CK_FUNCTION_LIST::C_VerifyInit, s, &mech, mac);
        return rv != CKR_OK ? rv
                            : member.call(&CK_FUNCTION_LIST::C_Verify, s, data, size, out,
                                          CK_ULONG{kMacSize});
    }
    CK_RV rv = member.call(&CK_FUNCTION_LIST::C_SignInit, s, &mech, mac);
    CK_ULONG length = kMacSize;
    return rv != CKR_OK ? rv : member.call(&CK_FUNCTION_LIST::C_Sign, s, data, size, out, &length);
}

bool isViewRecord(const replication::Exported& object) {
    if (object.cls != CKO_DATA) return false;
    auto label = attributeText(object, CKA_LABEL);
    return label && label->rfind(views::kLabelPrefix, 0) == 0;
}

std::optional<std::string> attributeText(const replication::Exported& object,
                                         CK_ATTRIBUTE_TYPE type) {
    for (const auto& [t, value] : object.attributes)
        if (t == type) return std::string(value.begin(), value.end());
    return std::nullopt;
}

std::string describe(const replication::Exported& object) {
    static const std::map<CK_OBJECT_CLASS, const char*> names = {{CKO_DATA, "data object"},
                                                                 {CKO_CERTIFICATE, "certificate"},
                                                                 {CKO_PUBLIC_KEY, "public key"},
                                                                 {CKO_PRIVATE_KEY, "private key"},
                                                                 {CKO_SECRET_KEY, "secret key"}};
    auto it = names.find(object.cls);
    std::string out = it != names.end() ? it->second : "object";
    out += " label=\"" + attributeText(object, CKA_LABEL).value_or("") + "\"";
    const std::string id = attributeText(object, CKA_ID).value_or("");
    if (std::all_of(id.begin(), id.end(), [](unsigned char c) { return std::isprint(c); })) {
        out += " id=\"" + id + "\"";
    } else {
        static constexpr char kHex[] = "0123456789abcdef";
        out += " id=0x";
        for (unsigned char c : id) out += {kHex[c >> 4], kHex[c & 15]};
    }
    return out;
}

}  // namespace p11c::tool::backupfile
