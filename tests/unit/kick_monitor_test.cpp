// SPDX-License-Identifier: Apache-2.0
// Tests of the "guest memory not shared" verdict (kick_monitor.h) on a device
// driven by the in-tree frontend: a ring that is kicked while its avail index
// never moves in the device's mapping gets the warning; a ring whose index
// moved does not, nor do idle kicks of a driver whose other rings moved; kick fds are watched only while their ring is started and
// only under their current fd.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "device/device.h"
#include "frontend/guest_memory_fixture.h"
#include "frontend/split_ring_driver.h"
#include "frontend/vhost_user_frontend.h"
#include "device/kick_monitor.h"
#include "netdev-vhost/nvh.h"
#include "base/virtio_spec.h"

namespace nvh::test {
namespace {

using vhost_user::Request;
using Clock = std::chrono::steady_clock;

constexpr int kTimeoutMs = 5000;
constexpr uint64_t kFeatures = virtio::bit(virtio::kFVersion1) |
                               virtio::bit(virtio::kNetFMrgRxbuf) |
                               virtio::bit(virtio::kFProtocolFeatures);
constexpr uint64_t kProtocolFeatures =
    virtio::bit(vhost_user::kProtocolFMq) | virtio::bit(vhost_user::kProtocolFReplyAck);

std::string unique_socket_path() {
    static std::atomic<int> counter{0};
    return ::testing::TempDir() + "nvh-kick-" + std::to_string(::getpid()) + "-" +
           std::to_string(counter.fetch_add(1)) + ".sock";
}

bool wait_until(const std::function<bool()>& condition) {
    auto deadline = Clock::now() + std::chrono::milliseconds(kTimeoutMs);
    while (Clock::now() < deadline) {
        if (condition()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return condition();
}

// Whether the eventfd's counter is non-zero (poll does not consume it).
bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

bool write_kick(int fd) {
    uint64_t one = 1;
    return ::write(fd, &one, sizeof one) == static_cast<ssize_t>(sizeof one);
}

class KickMonitorTest : public ::testing::Test {
protected:
    void SetUp() override {
        path_ = unique_socket_path();
        frontend_ = std::make_unique<VhostUserFrontend>(path_);
        nvh_device_config config{};
        config.socket_path = path_.c_str();
        config.max_queue_pairs = 1;
        char err[128] = "";
        ASSERT_EQ(nvh_device_create(&config, &dev_, err, sizeof err), 0) << err;
        ASSERT_TRUE(frontend_->listen());
        ASSERT_TRUE(frontend_->accept(kTimeoutMs));
        ASSERT_TRUE(frontend_->negotiate(kFeatures, kProtocolFeatures));
        mem_.add_region(0, 4 << 20);
        rxq_ = std::make_unique<SplitRingDriver>(mem_, 256, 2048);
        txq_ = std::make_unique<SplitRingDriver>(mem_, 256, 2048);
        ASSERT_TRUE(frontend_->send_mem_table(mem_));
        for (int i = 0; i < 2; i++) {
            kick_[i].reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
            call_[i].reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        }
        ASSERT_TRUE(frontend_->setup_vring(0, *rxq_, kick_[0].get(), call_[0].get()));
        ASSERT_TRUE(frontend_->setup_vring(1, *txq_, kick_[1].get(), call_[1].get()));
        ASSERT_TRUE(wait_until([&] { return info().state == NVH_STATE_READY; }));
    }
    void TearDown() override {
        if (dev_) {
            nvh_device_destroy(dev_);
        }
        frontend_.reset();
        ::unlink(path_.c_str());
    }

    nvh_device_info info() {
        nvh_device_info i;
        nvh_device_get_info(dev_, &i);
        return i;
    }
    bool warned() { return info().warning[0] != '\0'; }
    // One kick, as a guest's notification: written, then waited for until
    // the control thread has read it.
    bool kick(int fd) {
        return write_kick(fd) && wait_until([&] { return !readable(fd); });
    }
    // A request the device acks once applied: afterwards every kick read
    // before it has been handled too (both run on the control thread).
    bool sync() {
        return frontend_->set_vring_state(Request::kSetVringEnable, 0, 1) &&
               !frontend_->last_ack_failed();
    }

    std::string path_;
    std::unique_ptr<VhostUserFrontend> frontend_;
    nvh_device* dev_ = nullptr;
    GuestMemoryFixture mem_;
    std::unique_ptr<SplitRingDriver> rxq_, txq_;
    UniqueFd kick_[2], call_[2];
};

TEST_F(KickMonitorTest, KicksWithoutAvailProgressGiveTheWarning) {
    EXPECT_FALSE(warned());
    for (uint32_t i = 0; i + 1 < KickMonitor::kKicksForVerdict; i++) {
        ASSERT_TRUE(kick(kick_[1].get()));
    }
    ASSERT_TRUE(sync());
    EXPECT_FALSE(warned()) << "fewer kicks than the verdict needs";
    // The count is per connection, on any ring.
    ASSERT_TRUE(kick(kick_[0].get()));
    ASSERT_TRUE(wait_until([&] { return warned(); }));
    EXPECT_STREQ(info().warning, kMemoryNotSharedWarning);
    EXPECT_EQ(info().state, NVH_STATE_READY);   // A warning, not a failure.

    // Sticky: later messages do not clear it.
    ASSERT_TRUE(sync());
    EXPECT_STREQ(info().warning, kMemoryNotSharedWarning);
}

TEST_F(KickMonitorTest, RingWhoseAvailIndexMovedIsNotFlagged) {
    std::vector<uint8_t> frame(60, 0x5a);
    ASSERT_GE(txq_->add_tx(SplitRingDriver::net_header(12), frame), 0);
    ASSERT_GE(rxq_->add_rx({2048}), 0);
    // The first kick of each ring is read and finds the index moved...
    ASSERT_TRUE(kick(kick_[1].get()));
    ASSERT_TRUE(kick(kick_[0].get()));
    // ...so the rings are not watched any more until the next message (the
    // sync below, which drains what is pending without counting it).
    for (uint32_t i = 0; i < 2 * KickMonitor::kKicksForVerdict; i++) {
        ASSERT_TRUE(write_kick(kick_[1].get()));
        ASSERT_TRUE(write_kick(kick_[0].get()));
    }
    ASSERT_TRUE(sync());
    EXPECT_STREQ(info().warning, "");
}

// DPDK's virtio PMD at start: it fills and kicks each receive queue, then
// kicks each transmit queue with nothing queued (virtio_dev_start).  With two
// or more queue pairs that is as many idle kicks as the verdict needs; the
// receive ring that moved shows the memory is shared.
TEST_F(KickMonitorTest, IdleKicksOfADriverWhoseOtherRingMovedAreNotCounted) {
    ASSERT_GE(rxq_->add_rx({2048}), 0);
    ASSERT_TRUE(kick(kick_[0].get()));
    for (uint32_t i = 0; i < 2 * KickMonitor::kKicksForVerdict; i++) {
        ASSERT_TRUE(write_kick(kick_[1].get()));
        ASSERT_TRUE(sync());
    }
    EXPECT_STREQ(info().warning, "");
}

// The same idle transmit kicks before the receive ring was seen moving: the
// receive buffers were made available before the kicks, so the memory counts
// as shared even if no kick of the receive ring was read.
TEST_F(KickMonitorTest, IdleKicksAreNotCountedOnceAnyRingMoved) {
    ASSERT_GE(rxq_->add_rx({2048}), 0);
    ASSERT_TRUE(kick(kick_[1].get()));   // Read: it settles the question.
    for (uint32_t i = 0; i < 2 * KickMonitor::kKicksForVerdict; i++) {
        ASSERT_TRUE(write_kick(kick_[1].get()));
        ASSERT_TRUE(sync());
    }
    EXPECT_STREQ(info().warning, "");
}

TEST_F(KickMonitorTest, ReplacedKickFdIsNoLongerWatched) {
    UniqueFd fresh(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    ASSERT_TRUE(frontend_->set_vring_fd(Request::kSetVringKick, 1, fresh.get()));
    ASSERT_TRUE(write_kick(kick_[1].get()));
    ASSERT_TRUE(sync());
    EXPECT_TRUE(readable(kick_[1].get())) << "the old kick fd was still read";
    // The new one is watched.
    for (uint32_t i = 0; i < KickMonitor::kKicksForVerdict; i++) {
        ASSERT_TRUE(kick(fresh.get()));
    }
    ASSERT_TRUE(wait_until([&] { return warned(); }));
}

TEST_F(KickMonitorTest, StoppedRingIsNotWatched) {
    ASSERT_TRUE(frontend_->get_vring_base(1).has_value());   // Stops vring 1.
    ASSERT_TRUE(write_kick(kick_[1].get()));
    ASSERT_TRUE(sync());
    EXPECT_TRUE(readable(kick_[1].get())) << "a stopped ring's kick fd was read";
    EXPECT_FALSE(warned());
}

TEST_F(KickMonitorTest, NextConnectionClearsTheWarning) {
    for (uint32_t i = 0; i < KickMonitor::kKicksForVerdict; i++) {
        ASSERT_TRUE(kick(kick_[1].get()));
    }
    ASSERT_TRUE(wait_until([&] { return warned(); }));
    frontend_->close_connection();
    // One snapshot: the device reconnects 100 ms later by itself.
    nvh_device_info waiting;
    ASSERT_TRUE(wait_until([&] {
        waiting = info();
        return waiting.state == NVH_STATE_WAITING;
    }));
    EXPECT_NE(waiting.warning[0], '\0') << "kept until the next connection";
    // After the disconnect the kick fds are closed on the device's side.
    ASSERT_TRUE(write_kick(kick_[0].get()));
    ASSERT_TRUE(frontend_->accept(kTimeoutMs));
    ASSERT_TRUE(wait_until([&] { return info().state == NVH_STATE_CONNECTED; }));
    EXPECT_FALSE(warned());
    EXPECT_TRUE(readable(kick_[0].get()));
}

}  // namespace
}  // namespace nvh::test
