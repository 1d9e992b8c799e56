// SPDX-License-Identifier: Apache-2.0
// A PMD-like thread polls a queue pair through the C ABI while the control
// thread, driven by the frontend, replaces the memory table, disables and
// enables the rings, and loses and regains the connection (virtqueue.h:
// the data path try_locks each queue per burst; the control thread changes
// a queue and unmaps memory only under that lock).  Built with TSan in the
// sanitizer tree (docs/testing.md), which reports any unsynchronised access.
#include <atomic>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include "device_fixture.h"

namespace nvh::test {
namespace {

using vhost_user::Request;

constexpr uint64_t kFeatures = virtio::bit(virtio::kFVersion1) |
                               virtio::bit(virtio::kNetFMrgRxbuf) |
                               virtio::bit(virtio::kFProtocolFeatures);
constexpr uint64_t kProtocol = virtio::bit(vhost_user::kProtocolFReplyAck);
constexpr int kRounds = 30;

class ConcurrencyTest : public DeviceFixture {
protected:
    // The guest's chains, written before the poller starts: the guest does
    // not touch its rings while the PMD walks them (that would be a race
    // between two threads of this process, not one the device can avoid).
    void fill_rings() {
        std::vector<uint8_t> frame(60, 0x42);
        for (int i = 0; i < 32; i++) {
            ASSERT_GE(txq(0).add_tx(SplitRingDriver::net_header(12), frame), 0);
            ASSERT_GE(rxq(0).add_rx({2048}), 0);
        }
    }
    // The rings of pair 0 again, on a new connection, from index 0.
    bool configure_again() {
        if (!frontend_->negotiate(kFeatures, kProtocol) ||
            !frontend_->send_mem_table(mem_)) {
            return false;
        }
        for (uint32_t v = 0; v < 2; v++) {
            if (!frontend_->setup_vring(v, *rings_[v], kicks_[v].get(), calls_[v].get())) {
                return false;
            }
        }
        return true;
    }
};

TEST_F(ConcurrencyTest, PollingSurvivesTableSwapsRingTogglesAndReconnects) {
    create(1);
    connect();
    ASSERT_TRUE(frontend_->negotiate(kFeatures, kProtocol));
    set_up_rings(1);
    fill_rings();
    ASSERT_TRUE(enable_pair(0, true));
    ASSERT_TRUE(wait_state(NVH_STATE_READY));

    std::atomic<bool> stop{false};
    std::atomic<uint64_t> bursts{0}, dequeued{0}, enqueued{0};
    std::thread pmd([&] {
        std::vector<uint8_t> storage(NVH_MAX_BURST * 2048);
        nvh_packet pkts[NVH_MAX_BURST];
        while (!stop.load(std::memory_order_relaxed)) {
            for (uint32_t i = 0; i < NVH_MAX_BURST; i++) {
                pkts[i] = nvh_packet{};
                pkts[i].data = storage.data() + i * 2048;
                pkts[i].capacity = 2048;
            }
            uint32_t got = nvh_dequeue_burst(dev_, 0, pkts, NVH_MAX_BURST);
            dequeued.fetch_add(got, std::memory_order_relaxed);
            for (uint32_t i = 0; i < NVH_MAX_BURST; i++) {
                pkts[i].len = 60;
            }
            enqueued.fetch_add(nvh_enqueue_burst(dev_, 0, pkts, 4),
                               std::memory_order_relaxed);
            bursts.fetch_add(1, std::memory_order_relaxed);
            std::this_thread::yield();
        }
    });

    // Frames cross before the changes start.  How many more cross during
    // them depends on the scheduler alone (the rings are usable only
    // between two changes, for a few socket round trips each, and the
    // poller may be descheduled through all of them on a loaded machine),
    // so that is not asserted: the device is checked whole at the end.
    const bool polling = wait_for([&] { return dequeued.load(std::memory_order_relaxed) > 0; });
    bool ok = polling;
    for (int round = 0; round < kRounds && ok; round++) {
        // Same layout, new fds: the device maps the new table and unmaps the
        // old one while the PMD polls.
        ok = ok && frontend_->send_mem_table(mem_) && !frontend_->last_ack_failed();
        ok = ok && enable_pair(0, false) && enable_pair(0, true);
        // The transmit ring stopped (GET_VRING_BASE) and restarted where it
        // stood (SET_VRING_BASE, SET_VRING_KICK), as around a migration.
        std::optional<uint32_t> base = frontend_->get_vring_base(1);
        ok = ok && base.has_value() &&
             frontend_->set_vring_state(Request::kSetVringBase, 1, *base) &&
             frontend_->set_vring_fd(Request::kSetVringKick, 1, kicks_[1].get());
        if (round % 10 == 9) {
            frontend_->close_connection();
            ok = ok && wait_state(NVH_STATE_WAITING) &&
                 frontend_->accept(kFixtureTimeoutMs) &&
                 wait_state(NVH_STATE_CONNECTED) && configure_again() &&
                 wait_state(NVH_STATE_READY);
        }
    }
    stop.store(true);
    pmd.join();
    ASSERT_TRUE(polling) << "no frame crossed before the changes (" << bursts.load()
                         << " bursts)";
    ASSERT_TRUE(ok);

    // The device is still whole: a new frame from the guest comes out.
    ASSERT_TRUE(wait_state(NVH_STATE_READY));
    std::vector<uint8_t> frame(80, 0x17);
    std::vector<uint8_t> buffer(2048);
    nvh_packet pkt{};
    pkt.data = buffer.data();
    pkt.capacity = 2048;
    while (nvh_dequeue_burst(dev_, 0, &pkt, 1) == 1) {   // What is left.
    }
    ASSERT_GE(txq(0).add_tx(SplitRingDriver::net_header(12), frame), 0);
    ASSERT_EQ(nvh_dequeue_burst(dev_, 0, &pkt, 1), 1u);
    EXPECT_EQ(pkt.len, frame.size());
    EXPECT_EQ(std::memcmp(buffer.data(), frame.data(), frame.size()), 0);
}

}  // namespace
}  // namespace nvh::test
