// The service queue of one simulated HSM token (sim_hsm_gate.h).
#include "support/sim_hsm_gate.h"

#include <cerrno>

namespace p11c::simhsm {

namespace {

constexpr long kNsPerS = 1'000'000'000;

timespec now() {
    timespec t{};
    ::clock_gettime(CLOCK_MONOTONIC, &t);
    return t;
}

timespec after(const timespec& start, std::chrono::microseconds delay) {
    long long ns = static_cast<long long>(start.tv_nsec) +
                   std::chrono::duration_cast<std::chrono::nanoseconds>(delay).count();
    timespec out{};
    out.tv_sec = start.tv_sec + static_cast<time_t>(ns / kNsPerS);
    out.tv_nsec = static_cast<long>(ns % kNsPerS);
    return out;
}

bool before(const timespec& a, const timespec& b) {
    return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

}  // namespace

ServiceGate::ServiceGate(std::chrono::microseconds service, unsigned concurrency)
    : service_(service), free_(concurrency) {}

timespec ServiceGate::acquire() {
    std::unique_lock lock(mutex_);
    if (free_ > 0 && queue_.empty()) {
        --free_;
        return now();
    }
    Waiter self;
    self.arrived = now();
    queue_.push_back(&self);
    self.wake.wait(lock, [&] { return self.granted; });
    return self.start;
}

void ServiceGate::release(const timespec& freeAt) {
    std::lock_guard lock(mutex_);
    if (queue_.empty()) {
        ++free_;
        return;
    }
    Waiter* next = queue_.front();
    queue_.pop_front();
    next->start = before(freeAt, next->arrived) ? next->arrived : freeAt;
    next->granted = true;
    // Under the lock: the waiter (and its condition variable, on its stack)
    // cannot return before this notify is done.
    next->wake.notify_one();
}

ServiceGate::Pass::Pass(ServiceGate& gate) : gate_(gate) {
    deadline_ = after(gate_.acquire(), gate_.service_);
}

ServiceGate::Pass::~Pass() {
    timespec end = now();
    if (before(end, deadline_)) {
        while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline_, nullptr) == EINTR) {
        }
        end = deadline_;
    }
    gate_.release(end);
}

}  // namespace p11c::simhsm
