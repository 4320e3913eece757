#include "integration/attacker.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>

#include "support/softhsm_env.h"

namespace p11c::test::attack {
namespace {

struct CtxFree {
    void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};

std::optional<Bytes> kwp(bool wrap, const Bytes& key, const Bytes& in) {
    std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
    EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    if (key.size() != 32 || EVP_CipherInit_ex(ctx.get(), EVP_aes_256_wrap_pad(), nullptr,
                                              key.data(), nullptr, wrap ? 1 : 0) != 1)
        return std::nullopt;
    Bytes out(in.size() + 16);
    int n = 0;
    if (EVP_CipherUpdate(ctx.get(), out.data(), &n, in.data(), static_cast<int>(in.size())) != 1 ||
        n <= 0)
        return std::nullopt;
    out.resize(static_cast<size_t>(n));
    return out;
}

uint64_t u64At(const Bytes& b, size_t at) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | b[at + static_cast<size_t>(i)];
    return v;
}

class Reader {
  public:
    explicit Reader(const Bytes& b, size_t end) : b_(b), end_(end) {}
    uint64_t u64() {
        if (!ok_ || at_ + 8 > end_) return ok_ = false, 0;
        uint64_t v = u64At(b_, at_);
        at_ += 8;
        return v;
    }
    uint8_t u8() {
        if (!ok_ || at_ + 1 > end_) return ok_ = false, 0;
        return b_[at_++];
    }
    Bytes bytes() {
        uint64_t n = u64();
        if (!ok_ || n > end_ - at_) return ok_ = false, Bytes();
        Bytes v(b_.begin() + static_cast<long>(at_), b_.begin() + static_cast<long>(at_ + n));
        at_ += n;
        return v;
    }
    bool ok() const { return ok_; }
    bool atEnd() const { return at_ == end_; }
    size_t at() const { return at_; }
    void skip(size_t n) { at_ += n; }

  private:
    const Bytes& b_;
    size_t end_;
    size_t at_ = 0;
    bool ok_ = true;
};

void putU64(Bytes& out, uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<CK_BYTE>(v >> (8 * i)));
}
void putBytes(Bytes& out, const Bytes& v) {
    putU64(out, v.size());
    out.insert(out.end(), v.begin(), v.end());
}

}  // namespace

std::optional<Bytes> kwpUnwrap(const Bytes& key, const Bytes& blob) {
    return kwp(false, key, blob);
}

Bytes kwpWrap(const Bytes& key, const Bytes& plain) {
    auto out = kwp(true, key, plain);
    if (!out) throw std::runtime_error("AES key wrap failed");
    return *out;
}

Bytes hmacSha256(const Bytes& key, const Bytes& data) {
    Bytes out(32);
    unsigned int length = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(),
         out.data(), &length);
    out.resize(length);
    return out;
}

Bytes readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
}

void writeFile(const std::string& path, const Bytes& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
}

std::vector<Bytes> candidateBlobs(const Bytes& file) {
    std::vector<Bytes> out;
    for (size_t at = 0; at + 8 <= file.size(); ++at) {
        const uint64_t n = u64At(file, at);
        if (n < 24 || n > 8192 || n % 8 != 0 || n > file.size() - at - 8) continue;
        out.emplace_back(file.begin() + static_cast<long>(at + 8),
                         file.begin() + static_cast<long>(at + 8 + n));
    }
    return out;
}

std::optional<Bytes> aesKeyInClear(const std::string& dir, const std::vector<Bytes>& blobs) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
        if (!entry.is_regular_file()) continue;
        Bytes content = readFile(entry.path().string());
        for (size_t at = 0; at + 32 <= content.size(); ++at) {
            Bytes window(content.begin() + static_cast<long>(at),
                         content.begin() + static_cast<long>(at + 32));
            for (const Bytes& blob : blobs)
                if (kwpUnwrap(window, blob)) return window;
        }
    }
    return std::nullopt;
}

std::optional<BackupImage> parseBackup(const Bytes& file) {
    if (file.size() < 8 + 32) return std::nullopt;
    BackupImage image;
    const std::string magic(file.begin(), file.begin() + 8);
    if (magic == "P11CBAK1")
        image.version = 1;
    else if (magic == "P11CBAK2")
        image.version = 2;
    else
        return std::nullopt;
    Reader r(file, file.size() - 32);
    r.skip(8);
    image.written = r.u64();
    image.label = r.bytes();
    if (image.version == 2) {
        image.clusterId = r.bytes();
        image.backupKeyLabel = r.bytes();
    }
    image.macKey = r.bytes();
    if (image.version == 2) image.fileKey = r.bytes();
    const uint64_t count = r.u64();
    for (uint64_t i = 0; i < count && r.ok(); ++i) {
        BackupObject object;
        object.cls = r.u64();
        const uint64_t attributes = r.u64();
        for (uint64_t a = 0; a < attributes && r.ok(); ++a) {
            CK_ULONG type = r.u64();
            object.attributes.emplace_back(type, r.bytes());
        }
        if (image.version == 2) object.under = r.u8();
        object.wrapped = r.bytes();
        image.objects.push_back(std::move(object));
    }
    if (!r.ok() || !r.atEnd()) return std::nullopt;
    image.mac.assign(file.end() - 32, file.end());
    return image;
}

Bytes backupBody(const BackupImage& image) {
    Bytes out = bytesOf(image.version == 1 ? "P11CBAK1" : "P11CBAK2");
    putU64(out, image.written);
    putBytes(out, image.label);
    if (image.version == 2) {
        putBytes(out, image.clusterId);
        putBytes(out, image.backupKeyLabel);
    }
    putBytes(out, image.macKey);
    if (image.version == 2) putBytes(out, image.fileKey);
    putU64(out, image.objects.size());
    for (const BackupObject& object : image.objects) {
        putU64(out, object.cls);
        putU64(out, object.attributes.size());
        for (const auto& [type, value] : object.attributes) {
            putU64(out, type);
            putBytes(out, value);
        }
        if (image.version == 2) out.push_back(object.under);
        putBytes(out, object.wrapped);
    }
    return out;
}

Bytes signedBackup(const BackupImage& image, const Bytes& macValue) {
    Bytes body = backupBody(image);
    Bytes tag = hmacSha256(macValue, body);
    body.insert(body.end(), tag.begin(), tag.end());
    return body;
}

BackupObject plantedAes(const std::string& id, uint8_t under) {
    BackupObject object;
    object.cls = CKO_SECRET_KEY;
    object.under = under;
    auto ulong = [](CK_ULONG v) {
        Bytes b(sizeof v);
        std::memcpy(b.data(), &v, sizeof v);
        return b;
    };
    const Bytes yes{CK_TRUE}, no{CK_FALSE};
    object.attributes = {{CKA_CLASS, ulong(CKO_SECRET_KEY)},
                         {CKA_KEY_TYPE, ulong(CKK_AES)},
                         {CKA_TOKEN, yes},
                         {CKA_PRIVATE, yes},
                         {CKA_LABEL, bytesOf(id)},
                         {CKA_ID, bytesOf(id)},
                         {CKA_SENSITIVE, yes},
                         {CKA_EXTRACTABLE, yes},
                         {CKA_WRAP_WITH_TRUSTED, yes},
                         {CKA_ENCRYPT, yes},
                         {CKA_DECRYPT, yes}};
    return object;
}

std::vector<CK_OBJECT_HANDLE> visibleSecretKeys(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session) {
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    return findObjects(p11, session, {{CKA_CLASS, &cls, sizeof cls}});
}

}  // namespace p11c::test::attack
