// SPDX-License-Identifier: Apache-2.0
// What an operator sees of a device: the per-vring frame classes (size bins,
// multicast, broadcast) that the port's statistics are made of, the time
// since the connection was made, and a reconnect on request.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "base/virtio_spec.h"
#include "device_fixture.h"
#include "net/virtio_net.h"
#include "netdev-vhost-counters.h"
#include "ring_harness.h"

namespace nvh::test {
namespace {

template <typename R>
class FrameClasses : public RingTest<R> {};
TYPED_TEST_SUITE(FrameClasses, RingTypes, RingTypeNames);

// ---- Size bins: DPDK's vhost statistics bins --------------------------------

// Frames of each boundary length, sent to the guest and taken from it: the
// bin each one lands in.
TYPED_TEST(FrameClasses, SizeBinBoundariesMatchDpdkVhostBins) {
    const struct {
        uint32_t len;
        uint32_t bin;
    } cases[] = {
        {14, 0},   {63, 0},   {64, 1},   {65, 2},    {127, 2},   {128, 3},
        {255, 3},  {256, 4},  {511, 4},  {512, 5},   {1023, 5},  {1024, 6},
        {1518, 6}, {1519, 7}, {9000, 7},
    };
    for (const auto& c : cases) {
        RingQueue<TypeParam> q(8, kV1);
        auto f = frame(c.len);
        ASSERT_GE(q.post_rx({16384}), 0);
        ASSERT_EQ(q.enqueue({rx_packet(f)}), 1u);
        ASSERT_GE(q.post_tx(f), 0);
        TxBuffers b(9216);
        ASSERT_EQ(q.dequeue(b), 1u);
        for (uint32_t i = 0; i < NVH_SIZE_BINS; i++) {
            EXPECT_EQ(q.c().size_bins[i].load(), i == c.bin ? 2u : 0u)
                << "length " << c.len << " bin " << i;
        }
    }
    // The largest frame, to the guest only (it needs one large buffer).
    RingQueue<TypeParam> q(8, kV1);
    auto f = frame(65535);
    ASSERT_GE(q.post_buffer(12 + 65535, true), 0);
    ASSERT_EQ(q.enqueue({rx_packet(f)}), 1u);
    EXPECT_EQ(q.c().size_bins[7].load(), 1u);
}

// One frame of `len` bytes whose destination MAC starts with `first`.
std::vector<uint8_t> frame_to(uint8_t first, size_t len, bool broadcast = false) {
    std::vector<uint8_t> f(len, 0x5a);
    if (broadcast) {
        std::memset(f.data(), 0xff, 6);
    } else {
        f[0] = first;
    }
    return f;
}

// The frames each class test sends: 2 broadcast (64, 1518 bytes), 1
// multicast (128), 3 unicast (60, 300, 1600).
struct Sample {
    std::vector<std::vector<uint8_t>> frames;
    Sample() {
        frames.push_back(frame_to(0, 64, true));
        frames.push_back(frame_to(0, 1518, true));
        frames.push_back(frame_to(0x01, 128));   // 01:00:5e:..: group bit.
        frames.push_back(frame_to(0x02, 60));
        frames.push_back(frame_to(0x02, 300));
        frames.push_back(frame_to(0x00, 1600));
    }
    static void expect_counted(const VringCounters& c) {
        EXPECT_EQ(c.packets.load(), 6u);
        EXPECT_EQ(c.broadcast.load(), 2u);
        EXPECT_EQ(c.multicast.load(), 1u);
        const uint64_t bins[NVH_SIZE_BINS] = {1, 1, 0, 1, 1, 0, 1, 1};
        for (uint32_t i = 0; i < NVH_SIZE_BINS; i++) {
            EXPECT_EQ(c.size_bins[i].load(), bins[i]) << "bin " << i;
        }
    }
};

TYPED_TEST(FrameClasses, CountedOnTheGuestReceiveq) {
    RingQueue<TypeParam> q(64, kV1, 2048);
    Sample s;
    for (size_t i = 0; i < s.frames.size(); i++) {
        ASSERT_GE(q.post_rx({2048}), 0);
    }
    // One more frame with no buffer left: not delivered, not classified.
    s.frames.push_back(frame_to(0, 64, true));
    q.enqueue(s.frames);
    Sample::expect_counted(q.c());
}

TYPED_TEST(FrameClasses, CountedOnTheGuestTransmitq) {
    RingQueue<TypeParam> q(64, kV1, 2048);
    Sample s;
    for (const auto& f : s.frames) {
        ASSERT_GE(q.post_tx(f), 0);
    }
    TxBuffers b;
    ASSERT_EQ(q.dequeue(b), s.frames.size());
    Sample::expect_counted(q.c());
}

// The glue sums the classes per OVS direction (netdev-vhost-counters.h).
TEST(FrameClassTotals, SummedPerDirectionByTheGlue) {
    nvh_vring_stats rxq{}, txq{};
    rxq.multicast = 1;
    rxq.broadcast = 2;
    rxq.size_bins[6] = 3;
    txq.multicast = 10;
    txq.broadcast = 20;
    txq.size_bins[0] = 30;
    txq.size_bins[7] = 40;
    netdev_vhost_core_totals t{};
    netdev_vhost_core_totals_add(&t, 0, &rxq);   // receiveq0: OVS tx.
    netdev_vhost_core_totals_add(&t, 0, &rxq);
    netdev_vhost_core_totals_add(&t, 3, &txq);   // transmitq1: OVS rx.
    EXPECT_EQ(t.tx.multicast, 2u);
    EXPECT_EQ(t.tx.broadcast, 4u);
    EXPECT_EQ(t.tx.size_bins[6], 6u);
    EXPECT_EQ(t.rx.multicast, 10u);
    EXPECT_EQ(t.rx.broadcast, 20u);
    EXPECT_EQ(t.rx.size_bins[0], 30u);
    EXPECT_EQ(t.rx.size_bins[7], 40u);
    EXPECT_EQ(t.rx.size_bins[6], 0u);
}

// ---- Through the C ABI ---------------------------------------------------------

constexpr uint64_t kFeatures = kV1 |
                               virtio::bit(virtio::kNetFMrgRxbuf) |
                               virtio::bit(virtio::kFProtocolFeatures);
constexpr uint64_t kProtocolFeatures =
    virtio::bit(vhost_user::kProtocolFMq) | virtio::bit(vhost_user::kProtocolFReplyAck);

class OperatorViewTest : public DeviceFixture {
protected:
    void ready() {
        create(1);
        connect();
        ASSERT_TRUE(frontend_->negotiate(kFeatures, kProtocolFeatures));
        set_up_rings(1);
        ASSERT_TRUE(enable_pair(0, true));
        ASSERT_TRUE(wait_state(NVH_STATE_READY));
    }
};

TEST_F(OperatorViewTest, ApiCopiesFrameClasses) {
    ready();
    std::vector<uint8_t> bcast = frame_to(0, 64, true), mcast = frame_to(0x33, 200);
    ASSERT_GE(rxq(0).add_rx({2048}), 0);
    ASSERT_GE(rxq(0).add_rx({2048}), 0);
    nvh_packet pkts[2] = {{bcast.data(), 64, 0, {}, nullptr},
                          {mcast.data(), 200, 0, {}, nullptr}};
    ASSERT_EQ(nvh_enqueue_burst(dev_, 0, pkts, 2), 2u);
    nvh_vring_stats st;
    ASSERT_TRUE(nvh_vring_get_stats(dev_, 0, &st));
    EXPECT_EQ(st.packets, 2u);
    EXPECT_EQ(st.broadcast, 1u);
    EXPECT_EQ(st.multicast, 1u);
    EXPECT_EQ(st.size_bins[1], 1u);   // 64
    EXPECT_EQ(st.size_bins[3], 1u);   // 128-255
    ASSERT_TRUE(nvh_vring_get_stats(dev_, 1, &st));
    EXPECT_EQ(st.packets, 0u);
    EXPECT_EQ(st.broadcast + st.multicast, 0u);
}

TEST_F(OperatorViewTest, ConnectedTimeOnlyWhileConnected) {
    create(1);
    EXPECT_EQ(info().connected_ms, 0u);   // Waiting: nobody listens.
    connect();
    // The time since the connection is counted from the connect: it grows.
    uint64_t first = info().connected_ms;
    ASSERT_TRUE(wait_for([&] { return info().connected_ms > first; }));
    frontend_->close_connection();
    // One snapshot: the device reconnects 100 ms later by itself.
    nvh_device_info waiting;
    ASSERT_TRUE(wait_for([&] {
        waiting = info();
        return waiting.state == NVH_STATE_WAITING;
    }));
    EXPECT_EQ(waiting.connected_ms, 0u);
    // A new connection has its own time again.
    ASSERT_TRUE(frontend_->accept(kFixtureTimeoutMs));
    ASSERT_TRUE(wait_state(NVH_STATE_CONNECTED));
    EXPECT_EQ(info().n_connects, 2u);
    ASSERT_TRUE(wait_for([&] { return info().connected_ms > 0; }));
}

TEST_F(OperatorViewTest, ReconnectDropsAndConnectsAgain) {
    ready();
    EXPECT_EQ(info().n_connects, 1u);
    EXPECT_TRUE(nvh_device_reconnect(dev_));
    // The connection was dropped before the call returned.
    nvh_device_info i = info();
    EXPECT_NE(i.state, NVH_STATE_READY);
    EXPECT_STREQ(i.last_error, "reconnect requested");
    EXPECT_EQ(i.n_queue_pairs, 0u);
    // The frontend still listens: the device is back without waiting for
    // a poll, and negotiates from scratch.
    ASSERT_TRUE(frontend_->accept(kFixtureTimeoutMs));
    ASSERT_TRUE(wait_state(NVH_STATE_CONNECTED));
    EXPECT_EQ(info().n_connects, 2u);
    EXPECT_EQ(info().features, 0u);
    ASSERT_TRUE(frontend_->negotiate(kFeatures, kProtocolFeatures));
}

TEST_F(OperatorViewTest, ReconnectWithoutConnectionDropsNothing) {
    create(1);
    EXPECT_FALSE(nvh_device_reconnect(dev_));
    EXPECT_EQ(info().state, NVH_STATE_WAITING);
    EXPECT_STREQ(info().last_error, "");
    EXPECT_EQ(info().n_connects, 0u);
    // And it still connects once the frontend listens.
    connect();
    EXPECT_EQ(info().n_connects, 1u);
}

}  // namespace
}  // namespace nvh::test
