// SPDX-License-Identifier: Apache-2.0
// Port statistics: the core's vring counters are the single source of what
// reached the guest and what the guest sent, and the glue's port counters
// (datapath-glue/netdev-vhost-counters.h) are made of them.
#include <gtest/gtest.h>

#include <vector>

#include "base/virtio_spec.h"
#include "net/virtio_net.h"
#include "netdev-vhost-counters.h"
#include "ring_harness.h"

namespace nvh::test {
namespace {

// ---- Core: counts only delivered frames, keeps counting over resets ---------

// A split queue that a reset (a disconnect) can start again where the
// driver's ring stands.
class Queue : public RingQueue<Split> {
public:
    Queue() : RingQueue<Split>(QueueConfig{.num = 64, .buffer_size = 2048}) {}
    void restart() {
        ASSERT_TRUE(drv->configure(vq, drv->avail_idx()));
        ASSERT_TRUE(start());
    }
};

TEST(CoreCounters, ReceiveCountsOnlyFramesPlacedInGuestBuffers) {
    Queue q;
    q.drv->add_rx({2048});
    std::vector<uint8_t> jumbo(9000, 1), small(100, 2);
    nvh_packet p[2] = {};
    p[0].data = jumbo.data();
    p[0].len = 9000;
    p[1].data = small.data();
    p[1].len = 100;
    // Both are handled (the call returns 2), but only one reached the guest.
    ASSERT_EQ(net_enqueue_burst(q.vq, p, 2), 2u);
    EXPECT_EQ(q.vq.counters().packets.load(), 1u);
    EXPECT_EQ(q.vq.counters().bytes.load(), 100u);
    EXPECT_EQ(q.vq.counters().rx_buffer_too_small.load(), 1u);
}

TEST(CoreCounters, SurviveAReset) {
    Queue q;
    q.drv->add_rx({2048});
    std::vector<uint8_t> f(60, 3);
    nvh_packet p{};
    p.data = f.data();
    p.len = 60;
    ASSERT_EQ(net_enqueue_burst(q.vq, &p, 1), 1u);
    // A disconnect resets every vring; the next connection starts it again.
    q.vq.reset();
    EXPECT_EQ(q.vq.counters().packets.load(), 1u);
    EXPECT_EQ(q.vq.counters().bytes.load(), 60u);
    q.restart();
    q.drv->add_rx({2048});
    ASSERT_EQ(net_enqueue_burst(q.vq, &p, 1), 1u);
    EXPECT_EQ(q.vq.counters().packets.load(), 2u);
    EXPECT_EQ(q.vq.counters().bytes.load(), 120u);
}

// ---- Glue: port counters from the core's counters ---------------------------

TEST(PortCounters, DirectionsFollowTheVringNumbering) {
    netdev_vhost_core_totals t{};
    nvh_vring_stats receiveq{}, transmitq{};
    receiveq.packets = 5;
    receiveq.bytes = 500;
    transmitq.packets = 7;
    transmitq.bytes = 700;
    netdev_vhost_core_totals_add(&t, 0, &receiveq);    // receiveq0: OVS tx
    netdev_vhost_core_totals_add(&t, 1, &transmitq);   // transmitq0: OVS rx
    netdev_vhost_core_totals_add(&t, 2, &receiveq);    // receiveq1
    netdev_vhost_port_counters port;
    netdev_vhost_port_counters_get(&t, 0, &port);
    EXPECT_EQ(port.tx_packets, 10u);
    EXPECT_EQ(port.tx_bytes, 1000u);
    EXPECT_EQ(port.rx_packets, 7u);
    EXPECT_EQ(port.rx_bytes, 700u);
}

TEST(PortCounters, FramesTheCoreDroppedAreDroppedNotSent) {
    netdev_vhost_core_totals t{};
    nvh_vring_stats receiveq{};
    receiveq.packets = 3;
    receiveq.bytes = 300;
    receiveq.rx_buffer_too_small = 4;
    receiveq.invalid_descriptors = 1;
    netdev_vhost_core_totals_add(&t, 0, &receiveq);
    netdev_vhost_port_counters port;
    netdev_vhost_port_counters_get(&t, /*glue_tx_dropped=*/2, &port);
    EXPECT_EQ(port.tx_packets, 3u);
    EXPECT_EQ(port.tx_bytes, 300u);
    EXPECT_EQ(port.tx_dropped, 2u + 4u);
    EXPECT_EQ(port.tx_errors, 1u);   // a dropped frame is not also an error
}

TEST(PortCounters, GuestRuleBreakingFramesAreReceiveErrors) {
    netdev_vhost_core_totals t{};
    nvh_vring_stats transmitq{};
    transmitq.packets = 1;
    transmitq.invalid_descriptors = 1;
    transmitq.undersized_frames = 2;
    transmitq.oversized_frames = 3;
    netdev_vhost_core_totals_add(&t, 3, &transmitq);
    netdev_vhost_port_counters port;
    netdev_vhost_port_counters_get(&t, 0, &port);
    EXPECT_EQ(port.rx_packets, 1u);
    EXPECT_EQ(port.rx_errors, 6u);
}

}  // namespace
}  // namespace nvh::test
