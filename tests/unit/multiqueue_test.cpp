// SPDX-License-Identifier: Apache-2.0
// Multiqueue (VIRTIO_NET_F_MQ, virtio 1.2, 5.1.5) through the C ABI and the
// in-tree frontend: four queue pairs, each enabled and disabled on its own,
// frames on every pair, per-vring counters.
#include <cstring>
#include <vector>

#include "device_fixture.h"

namespace nvh::test {
namespace {

using vhost_user::Request;

constexpr uint64_t kMqFeatures = virtio::bit(virtio::kFVersion1) |
                                 virtio::bit(virtio::kNetFMrgRxbuf) |
                                 virtio::bit(virtio::kFProtocolFeatures) |
                                 virtio::bit(virtio::kNetFMq);
constexpr uint64_t kMqProtocol = virtio::bit(vhost_user::kProtocolFMq) |
                                 virtio::bit(vhost_user::kProtocolFReplyAck);

class MultiqueueTest : public DeviceFixture {};

std::vector<uint8_t> frame_for(uint32_t qp) {
    std::vector<uint8_t> frame(60 + qp);
    for (size_t i = 0; i < frame.size(); i++) {
        frame[i] = static_cast<uint8_t>(qp * 31 + i);
    }
    return frame;
}

TEST_F(MultiqueueTest, QueuePairsFollowTheirEnableState) {
    create(4);
    connect();
    ASSERT_TRUE(frontend_->negotiate(kMqFeatures, kMqProtocol));
    EXPECT_EQ(frontend_->queue_num(), 4u);   // GET_QUEUE_NUM
    set_up_rings(4);
    EXPECT_EQ(info().state, NVH_STATE_CONNECTED);
    EXPECT_EQ(info().n_vrings, 8u);
    EXPECT_EQ(info().n_queue_pairs, 0u);

    ASSERT_TRUE(enable_pair(0, true));
    ASSERT_TRUE(enable_pair(1, true));
    EXPECT_EQ(info().state, NVH_STATE_READY);
    EXPECT_EQ(info().n_queue_pairs, 2u);

    ASSERT_TRUE(enable_pair(2, true));
    ASSERT_TRUE(enable_pair(3, true));
    EXPECT_EQ(info().n_queue_pairs, 4u);
    for (uint32_t v = 0; v < 8; v++) {
        EXPECT_TRUE(info().vring_enabled[v]) << v;
    }

    // A pair in the middle goes away: the highest still counts, the
    // disabled one is reported per vring and carries nothing.
    ASSERT_TRUE(enable_pair(1, false));
    nvh_device_info i = info();
    EXPECT_EQ(i.n_queue_pairs, 4u);
    EXPECT_FALSE(i.vring_enabled[2]);
    EXPECT_FALSE(i.vring_enabled[3]);
    ASSERT_GE(txq(1).add_tx(SplitRingDriver::net_header(12), frame_for(1)), 0);
    std::vector<uint8_t> buffer(2048);
    nvh_packet pkt{};
    pkt.data = buffer.data();
    pkt.capacity = static_cast<uint32_t>(buffer.size());
    EXPECT_EQ(nvh_dequeue_burst(dev_, 1, &pkt, 1), 0u);

    ASSERT_TRUE(enable_pair(3, false));
    EXPECT_EQ(info().n_queue_pairs, 3u);
    ASSERT_TRUE(enable_pair(2, false));
    EXPECT_EQ(info().n_queue_pairs, 1u);
    ASSERT_TRUE(enable_pair(1, true));   // Its pending frame now flows.
    EXPECT_EQ(info().n_queue_pairs, 2u);
    EXPECT_EQ(nvh_dequeue_burst(dev_, 1, &pkt, 1), 1u);
    EXPECT_EQ(pkt.len, frame_for(1).size());
}

TEST_F(MultiqueueTest, FramesFlowOnEveryQueuePair) {
    create(4);
    connect();
    ASSERT_TRUE(frontend_->negotiate(kMqFeatures, kMqProtocol));
    set_up_rings(4);
    for (uint32_t qp = 0; qp < 4; qp++) {
        ASSERT_TRUE(enable_pair(qp, true));
    }
    ASSERT_EQ(info().n_queue_pairs, 4u);

    for (uint32_t qp = 0; qp < 4; qp++) {
        // Guest -> host on transmitq<qp>: only that pair returns it.
        std::vector<uint8_t> frame = frame_for(qp);
        ASSERT_GE(txq(qp).add_tx(SplitRingDriver::net_header(12), frame), 0);
        std::vector<uint8_t> buffer(2048);
        nvh_packet pkt{};
        pkt.data = buffer.data();
        pkt.capacity = static_cast<uint32_t>(buffer.size());
        for (uint32_t other = 0; other < 4; other++) {
            if (other != qp) {
                EXPECT_EQ(nvh_dequeue_burst(dev_, other, &pkt, 1), 0u);
            }
        }
        ASSERT_EQ(nvh_dequeue_burst(dev_, qp, &pkt, 1), 1u);
        ASSERT_EQ(pkt.len, frame.size());
        EXPECT_EQ(std::memcmp(buffer.data(), frame.data(), frame.size()), 0);

        // Host -> guest on receiveq<qp>.
        ASSERT_GE(rxq(qp).add_rx({2048}), 0);
        nvh_packet out{};
        out.data = frame.data();
        out.len = static_cast<uint32_t>(frame.size());
        ASSERT_EQ(nvh_enqueue_burst(dev_, qp, &out, 1), 1u);
        auto used = rxq(qp).pop_used();
        ASSERT_TRUE(used.has_value());
        std::vector<uint8_t> written = rxq(qp).read_used(*used);
        ASSERT_EQ(written.size(), 12 + frame.size());
        EXPECT_EQ(std::memcmp(written.data() + 12, frame.data(), frame.size()), 0);
    }
    for (uint32_t v = 0; v < 8; v++) {
        nvh_vring_stats stats;
        ASSERT_TRUE(nvh_vring_get_stats(dev_, v, &stats));
        EXPECT_EQ(stats.packets, 1u) << "vring " << v;
        EXPECT_EQ(stats.bytes, frame_for(v / 2).size()) << "vring " << v;
    }
    // Beyond the device's pairs there is nothing.
    std::vector<uint8_t> buffer(2048);
    nvh_packet pkt{};
    pkt.data = buffer.data();
    pkt.capacity = 2048;
    EXPECT_EQ(nvh_dequeue_burst(dev_, 4, &pkt, 1), 0u);
}

TEST_F(MultiqueueTest, VringIndexBeyondTheDevicesPairsDisconnects) {
    create(2);
    connect();
    ASSERT_TRUE(frontend_->negotiate(kMqFeatures, kMqProtocol));
    EXPECT_EQ(frontend_->queue_num(), 2u);
    // vhost-user.rst: indexes >= 2 * GET_QUEUE_NUM are not the device's.
    frontend_->set_vring_state(Request::kSetVringNum, 4, 64);
    ASSERT_TRUE(wait_state(NVH_STATE_WAITING));
}

}  // namespace
}  // namespace nvh::test
