// The byte format of the member protocol (docs/remote-members.md): every
// number is a little-endian u64 (CK_ULONG values, handles, lengths), flags
// are one byte, byte strings are a length followed by the bytes. Host and
// client run on machines of the same architecture (the structures the
// specification defines without pointers travel as their bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace p11c::remote {

// Upper bound on one message; a longer length prefix is a protocol error.
inline constexpr uint32_t kMaxMessage = 64u << 20;

class Writer {
  public:
    Writer() = default;
    // Writes into `reuse`'s storage (emptied first): no allocation when it
    // is large enough already.
    explicit Writer(std::vector<uint8_t>&& reuse) : buf_(std::move(reuse)) { buf_.clear(); }
    void u8(uint8_t v) { buf_.push_back(v); }
    void u32(uint32_t v) { raw(&v, sizeof v); }
    void u64(uint64_t v) { raw(&v, sizeof v); }
    void raw(const void* data, size_t n) {
        if (n == 0) return;
        auto p = static_cast<const uint8_t*>(data);
        buf_.insert(buf_.end(), p, p + n);
    }
    void bytes(const void* data, size_t n) {
        u64(n);
        raw(data, n);
    }
    std::vector<uint8_t>& buffer() noexcept { return buf_; }

  private:
    std::vector<uint8_t> buf_;
};

// Reads what a Writer wrote. A short or malformed message sets ok() to
// false and yields zeros from then on; callers check ok() once at the end.
class Reader {
  public:
    Reader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}

    uint8_t u8() {
        uint8_t v = 0;
        raw(&v, 1);
        return v;
    }
    uint32_t u32() {
        uint32_t v = 0;
        raw(&v, sizeof v);
        return v;
    }
    uint64_t u64() {
        uint64_t v = 0;
        raw(&v, sizeof v);
        return v;
    }
    void raw(void* out, size_t n) {
        if (!ok_ || static_cast<size_t>(end_ - p_) < n) {
            ok_ = false;
            std::memset(out, 0, n);
            return;
        }
        std::memcpy(out, p_, n);
        p_ += n;
    }
    // A length-prefixed byte string, at most `limit` bytes.
    std::vector<uint8_t> bytes(size_t limit = kMaxMessage) {
        uint64_t n = u64();
        if (!ok_ || n > limit || n > static_cast<size_t>(end_ - p_)) {
            ok_ = false;
            return {};
        }
        std::vector<uint8_t> out(p_, p_ + n);
        p_ += n;
        return out;
    }
    bool ok() const noexcept { return ok_; }
    void fail() noexcept { ok_ = false; }
    bool atEnd() const noexcept { return p_ == end_; }

  private:
    const uint8_t* p_;
    const uint8_t* end_;
    bool ok_ = true;
};

}  // namespace p11c::remote
