// WriteGate: caller writes share it, repair takes it alone, and a waiting
// repair goes before callers that arrive after it.
#include <atomic>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include <catch2/catch.hpp>

#include "util/write_gate.h"

using namespace std::chrono_literals;

TEST_CASE("write gate: shared holders do not wait for each other") {
    p11c::WriteGate gate;
    std::shared_lock first(gate);
    std::atomic<bool> entered{false};
    std::thread second([&] {
        std::shared_lock lock(gate);
        entered = true;
    });
    second.join();  // would hang if shared holders excluded each other
    CHECK(entered);
}

TEST_CASE("write gate: a waiting exclusive holder goes before shared holders that come later") {
    p11c::WriteGate gate;
    gate.lock_shared();  // a caller's write in progress
    std::atomic<int> order{0};
    int writerAt = 0, readerAt = 0;
    std::thread writer([&] {
        std::unique_lock lock(gate);  // repair
        writerAt = ++order;
    });
    while (!gate.writerWaiting()) std::this_thread::yield();
    std::thread reader([&] {
        std::shared_lock lock(gate);  // a caller's write that came after
        readerAt = ++order;
    });
    std::this_thread::sleep_for(100ms);
    CHECK(order == 0);  // the writer waits for the first holder, the reader for the writer
    gate.unlock_shared();
    writer.join();
    reader.join();
    CHECK(writerAt == 1);
    CHECK(readerAt == 2);
}
