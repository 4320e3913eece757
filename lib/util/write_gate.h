// WriteGate: a shared/exclusive lock that lets a waiting exclusive holder
// in before new shared holders (glibc's shared_mutex prefers readers, and a
// steady stream of caller writes would starve repair for ever).
// Meets the SharedMutex requirements used by std::shared_lock and
// std::unique_lock.
#pragma once

#include <condition_variable>
#include <mutex>

namespace p11c {

class WriteGate {
  public:
    void lock_shared() {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return !writer_ && writersWaiting_ == 0; });
        ++readers_;
    }
    void unlock_shared() {
        std::lock_guard lock(mutex_);
        if (--readers_ == 0) changed_.notify_all();
    }
    void lock() {
        std::unique_lock lock(mutex_);
        ++writersWaiting_;
        changed_.wait(lock, [&] { return !writer_ && readers_ == 0; });
        --writersWaiting_;
        writer_ = true;
    }
    void unlock() {
        std::lock_guard lock(mutex_);
        writer_ = false;
        changed_.notify_all();
    }

    // Whether an exclusive holder waits (for tests and diagnostics).
    bool writerWaiting() {
        std::lock_guard lock(mutex_);
        return writersWaiting_ > 0;
    }

  private:
    std::mutex mutex_;
    std::condition_variable changed_;
    unsigned readers_ = 0;
    unsigned writersWaiting_ = 0;
    bool writer_ = false;
};

}  // namespace p11c
