// One simulated HSM token's service queue: at most `concurrency` calls in
// service at once, each holding its place for a fixed service time.
//
// A caller takes a place (ServiceGate::Pass); when every place is taken it
// waits in FIFO order, each waiter on its own condition variable, and a
// released place is handed straight to the first waiter (no thundering
// herd, no overtaking). The service time counts from when the caller got its
// place: the pass's destructor sleeps until that start + service time on
// CLOCK_MONOTONIC (an absolute deadline), then releases the place.
//
// A waiter gets its place at the moment the place fell free (the previous
// holder's deadline, or the end of its real call when that ran past the
// deadline), or when it arrived if later, not when the releasing thread woke
// from its sleep: so the simulator's own wake-up latency never accumulates,
// and a saturated token serves exactly one call per service time per place.
//
// Threading: every member function may be called from any thread at once.
// The gate must outlive every Pass on it.
#pragma once

#include <time.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>

namespace p11c::simhsm {

class ServiceGate {
  public:
    ServiceGate(std::chrono::microseconds service, unsigned concurrency);
    ServiceGate(const ServiceGate&) = delete;
    ServiceGate& operator=(const ServiceGate&) = delete;

    // A place in service for the lifetime of this object.
    class Pass {
      public:
        explicit Pass(ServiceGate& gate);
        ~Pass();
        Pass(const Pass&) = delete;
        Pass& operator=(const Pass&) = delete;

      private:
        ServiceGate& gate_;
        timespec deadline_{};
    };

  private:
    struct Waiter {
        std::condition_variable wake;
        timespec arrived{};
        timespec start{};  // set when granted
        bool granted = false;
    };
    // Takes a place; returns when its service started.
    timespec acquire();
    // Gives the place back; it fell free at `freeAt`.
    void release(const timespec& freeAt);

    const std::chrono::microseconds service_;
    std::mutex mutex_;
    unsigned free_;              // guarded by mutex_
    std::deque<Waiter*> queue_;  // guarded by mutex_; first come, first served
};

}  // namespace p11c::simhsm
