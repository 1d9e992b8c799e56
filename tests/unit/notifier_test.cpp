// SPDX-License-Identifier: Apache-2.0
// The notifier thread (device/notifier.h) against a hostile frontend's call
// eventfds: a blocking eventfd with a full counter, O_NONBLOCK flipped while
// the data path runs, a new SET_VRING_CALL after a stall, and a device
// destroyed while the notifier is stuck in a write.  Devices through the C
// ABI and the in-tree frontend; the data path is this test's thread.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <string>
#include <thread>

#include "device/notifier.h"
#include "device_fixture.h"

namespace nvh::test {
namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kFull = 0xfffffffffffffffeULL;   // eventfd(2): the maximum.
constexpr uint64_t kOneBelowFull = kFull - 1;

// The counter of eventfd `fd`, read without consuming it (proc(5), fdinfo).
uint64_t eventfd_count(int fd) {
    std::ifstream in("/proc/self/fdinfo/" + std::to_string(fd));
    std::string key;
    while (in >> key) {
        if (key == "eventfd-count:") {
            std::string hex;
            in >> hex;
            return std::stoull(hex, nullptr, 16);
        }
    }
    return 0;
}

// A blocking eventfd holding `count`.
UniqueFd blocking_eventfd(uint64_t count) {
    UniqueFd fd(::eventfd(0, EFD_CLOEXEC));
    if (count != 0 && ::write(fd.get(), &count, sizeof count) != sizeof count) {
        ADD_FAILURE() << "cannot preload the eventfd";
    }
    return fd;
}

// The hook fills (to kFull) any call eventfd at kOneBelowFull, after the
// notifier's poll and before its write: the frontend winning the race.
std::atomic<int> g_fills{0};
std::atomic<int> g_hook_sleep_ms{0};
void fill_between_poll_and_write(int fd) {
    if (eventfd_count(fd) == kOneBelowFull) {
        uint64_t one = 1;
        ASSERT_EQ(::write(fd, &one, sizeof one), 8);
        g_fills.fetch_add(1);
        std::this_thread::sleep_for(std::chrono::milliseconds(g_hook_sleep_ms.load()));
    }
}

// One port: a device and its frontend (DeviceFixture, used as an object).
class Port : public DeviceFixture {
public:
    Port() { SetUp(); }
    ~Port() override { TearDown(); }
    void TestBody() override {}
    using DeviceFixture::create;

    // Connected, negotiated, `pairs` queue pairs set up and enabled.
    void ready(uint32_t pairs) {
        create(pairs);
        connect();
        constexpr uint64_t kProtocol = virtio::bit(vhost_user::kProtocolFMq) |
                                       virtio::bit(vhost_user::kProtocolFReplyAck);
        ASSERT_TRUE(frontend_->negotiate(kMrg | virtio::bit(virtio::kFProtocolFeatures),
                                         kProtocol));
        set_up_and_enable_rings(pairs);
        ASSERT_TRUE(wait_state(NVH_STATE_READY));
    }
    void set_call(uint32_t vring, int fd) {
        ASSERT_TRUE(frontend_->set_vring_fd(vhost_user::Request::kSetVringCall, vring, fd));
    }
    // The guest sends one frame on transmitq `qp` and the data path takes
    // it: one burst that asks for an interrupt (no suppression set).
    uint32_t transmit(uint32_t qp) {
        auto f = frame(60, 1);
        if (txq(qp).add_tx(SplitRingDriver::net_header(12), f) < 0) {
            return 0;
        }
        TxBuffers b;
        uint32_t got = nvh_dequeue_burst(dev_, qp, b.pkts.data(), NVH_MAX_BURST);
        while (txq(qp).pop_used()) {
        }
        return got;
    }
    // Waits for an interrupt on the call eventfd of vring `v` and takes it.
    bool interrupted(uint32_t v) {
        uint64_t n = 0;
        return wait_for([&] { return ::read(calls_[v].get(), &n, sizeof n) == sizeof n; });
    }
    nvh_vring_stats stats(uint32_t v) {
        nvh_vring_stats s;
        nvh_vring_get_stats(dev_, v, &s);
        return s;
    }
    nvh_device* dev() { return dev_; }
    void forget_device() { dev_ = nullptr; }
};

// Runs `bursts` on a thread and gives up (aborting: a data path blocked
// in a write cannot be joined) if they do not return in time.
void expect_returns_in_time(const std::function<void()>& bursts,
                            std::chrono::seconds limit) {
    std::packaged_task<void()> task(bursts);
    std::future<void> done = task.get_future();
    std::thread runner(std::move(task));
    if (done.wait_for(limit) != std::future_status::ready) {
        std::fprintf(stderr, "the data path blocked on a call fd\n");
        std::abort();
    }
    runner.join();
}

class CallNotifier : public ::testing::Test {
protected:
    void SetUp() override {
        g_fills.store(0);
        set_call_write_hook(&fill_between_poll_and_write);
    }
    void TearDown() override {
        set_call_write_hook(nullptr);
        g_hook_sleep_ms.store(0);
    }
};

// The frontend's call eventfd is blocking with its counter full: the
// notifier sees it full (an interrupt is pending) and never writes; the
// data path never touches it.  Before the notifier, the first burst that
// asked for an interrupt blocked the PMD for good.
TEST_F(CallNotifier, FullBlockingCallFdNeverBlocksTheDataPath) {
    Port a;
    a.ready(1);
    UniqueFd hostile = blocking_eventfd(kFull);
    a.set_call(1, hostile.get());
    expect_returns_in_time([&] {
        for (int i = 0; i < 1000; i++) {
            ASSERT_EQ(a.transmit(0), 1u);
        }
    }, std::chrono::seconds(20));
    // Counted as pending, once per request the notifier took.
    EXPECT_TRUE(wait_for([&] { return a.stats(1).guest_notifications >= 1; }));
    EXPECT_EQ(a.stats(1).call_stalls, 0u);
    EXPECT_EQ(eventfd_count(hostile.get()), kFull);
}

// The frontend fills the counter between the notifier's poll and its write:
// the write blocks until the bound cuts it short; the vring's call fd is
// then stalled and counted, while the data path, the other vrings and
// another device keep going.
TEST_F(CallNotifier, WriteThatBlocksIsCutShortAndOthersKeepTheirInterrupts) {
    Port a, b;
    a.ready(2);
    b.ready(1);
    UniqueFd hostile = blocking_eventfd(kOneBelowFull);
    a.set_call(1, hostile.get());
    auto start = Clock::now();
    expect_returns_in_time([&] {
        for (int i = 0; i < 1000; i++) {
            ASSERT_EQ(a.transmit(0), 1u);
            if (i % 100 == 0) {
                ASSERT_EQ(a.transmit(1), 1u);
                ASSERT_TRUE(a.interrupted(3)) << "burst " << i;
                ASSERT_EQ(b.transmit(0), 1u);
                ASSERT_TRUE(b.interrupted(1)) << "burst " << i;
            }
        }
    }, std::chrono::seconds(20));
    ASSERT_TRUE(wait_for([&] { return a.stats(1).call_stalls == 1; }));
    EXPECT_GE(Clock::now() - start, kCallWriteBound);
    EXPECT_EQ(g_fills.exchange(0), 1);   // Stalled: never written again.
    EXPECT_EQ(eventfd_count(hostile.get()), kFull);
    EXPECT_EQ(a.stats(3).call_stalls, 0u);
    EXPECT_EQ(b.stats(1).call_stalls, 0u);
}

// A new SET_VRING_CALL after a stall: interrupts reach the new fd.
TEST_F(CallNotifier, NewCallFdAfterAStallRestoresInterrupts) {
    Port a;
    a.ready(1);
    UniqueFd hostile = blocking_eventfd(kOneBelowFull);
    a.set_call(1, hostile.get());
    ASSERT_EQ(a.transmit(0), 1u);
    ASSERT_TRUE(wait_for([&] { return a.stats(1).call_stalls == 1; }));
    g_fills.store(0);
    const uint64_t delivered = a.stats(1).guest_notifications;
    UniqueFd fresh(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    a.set_call(1, fresh.get());
    ASSERT_EQ(a.transmit(0), 1u);
    EXPECT_TRUE(wait_for([&] { return eventfd_count(fresh.get()) == 1; }));
    // Counted after the write (guest_call.cpp): it may still be on its way.
    EXPECT_TRUE(wait_for([&] { return a.stats(1).guest_notifications == delivered + 1; }));
    EXPECT_EQ(a.stats(1).call_stalls, 1u);
}

// The frontend flips O_NONBLOCK on the shared file while reading it: no
// burst blocks, and every interrupt the driver asked for arrives (or is
// pending: the counter is >= 1 until read).
TEST_F(CallNotifier, FlippingNonBlockingNeitherBlocksNorLosesInterrupts) {
    Port a;
    a.ready(1);
    UniqueFd call(::eventfd(0, EFD_CLOEXEC));
    a.set_call(1, call.get());
    std::atomic<bool> stop{false};
    std::thread flipper([&] {
        for (int i = 0; !stop.load(std::memory_order_relaxed); i++) {
            ::fcntl(call.get(), F_SETFL, i % 2 ? O_NONBLOCK : 0);
        }
    });
    constexpr int kRounds = 300;
    expect_returns_in_time([&] {
        for (int i = 0; i < kRounds; i++) {
            ASSERT_EQ(a.transmit(0), 1u);
            ASSERT_TRUE(wait_for([&] { return eventfd_count(call.get()) >= 1; }))
                << "interrupt " << i << " lost";
            uint64_t n = 0;
            ASSERT_EQ(::read(call.get(), &n, sizeof n), 8);   // Count >= 1: no wait.
        }
    }, std::chrono::seconds(60));
    stop.store(true);
    flipper.join();
    EXPECT_TRUE(wait_for([&] { return a.stats(1).guest_notifications == uint64_t(kRounds); }))
        << a.stats(1).guest_notifications;
    EXPECT_EQ(a.stats(1).call_stalls, 0u);
}

// Destroying a device while the notifier writes one of its call fds (and
// is stuck there) returns once the bound ends the write; the notifier then
// serves the other devices.
TEST_F(CallNotifier, DestroyWhileTheNotifierIsStuckReturnsWithinTheBound) {
    Port a, b;
    a.ready(1);
    b.ready(1);
    UniqueFd hostile = blocking_eventfd(kOneBelowFull);
    a.set_call(1, hostile.get());
    g_hook_sleep_ms.store(50);   // Destroy starts while the write is pending.
    g_fills.store(0);
    ASSERT_EQ(a.transmit(0), 1u);
    ASSERT_TRUE(wait_for([] { return g_fills.load() == 1; }));
    auto start = Clock::now();
    nvh_device_destroy(a.dev());
    a.forget_device();
    auto took = Clock::now() - start;
    // The hook's 50 ms plus the bound, with room for a loaded machine.
    EXPECT_LT(took, std::chrono::milliseconds(50) + kCallWriteBound +
                        std::chrono::milliseconds(1000));
    ASSERT_EQ(b.transmit(0), 1u);
    EXPECT_TRUE(b.interrupted(1));
}

TEST(CallNotifierSignal, IsARealTimeSignalWithoutRestart) {
    Port a;
    a.create(1);
    int sig = Notifier::interrupt_signal();
    ASSERT_GE(sig, SIGRTMIN);
    ASSERT_LE(sig, SIGRTMAX);
    struct sigaction action {};
    ASSERT_EQ(::sigaction(sig, nullptr, &action), 0);
    EXPECT_NE(action.sa_handler, SIG_DFL);
    EXPECT_EQ(action.sa_flags & SA_RESTART, 0);
}

}  // namespace
}  // namespace nvh::test
