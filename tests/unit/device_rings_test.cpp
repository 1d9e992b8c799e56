// SPDX-License-Identifier: Apache-2.0
// A device over its socket with split and packed rings: the ring layout
// negotiated through SET_FEATURES (VIRTIO_F_RING_PACKED, virtio 1.2, 2.8),
// the rings set up with VhostUserFrontend::setup_vring, frames both ways
// through the C ABI, and GET_VRING_BASE in the ring type's encoding.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "device_fixture.h"
#include "netdev-vhost/nvh.h"
#include "ring/packed_ring.h"
#include "ring_harness.h"

namespace nvh::test {
namespace {

constexpr uint64_t kProtocolFeatures =
    virtio::bit(vhost_user::kProtocolFMq) | virtio::bit(vhost_user::kProtocolFReplyAck);

template <typename R>
class DeviceRings : public DeviceFixtureT<R> {
protected:
    static constexpr uint64_t kFeatures =
        kMrg | virtio::bit(virtio::kFProtocolFeatures) | R::kFeatures;

    // Connected, negotiated, one queue pair set up and enabled: READY.
    void ready() { this->ready_one_pair(kFeatures, kProtocolFeatures); }
};
TYPED_TEST_SUITE(DeviceRings, RingTypes, RingTypeNames);

TYPED_TEST(DeviceRings, RingTypeIsNegotiatedThroughTheSocket) {
    EXPECT_TRUE(virtio::has(kOfferedFeatures, virtio::kFRingPacked));
    this->ready();
    nvh_device_info i = this->info();
    EXPECT_EQ(i.features, TestFixture::kFeatures);
    EXPECT_EQ(virtio::has(i.features, virtio::kFRingPacked), TypeParam::kFeatures != 0);
    EXPECT_EQ(i.n_queue_pairs, 1u);
    EXPECT_EQ(i.vring_size[0], 64);
    EXPECT_TRUE(i.vring_enabled[1]);
}

TYPED_TEST(DeviceRings, FramesFlowBothWays) {
    this->ready();
    // Guest -> host.
    auto f = frame(60, 3);
    ASSERT_GE(this->txq(0).add_tx(TypeParam::Driver::net_header(12), f), 0);
    TxBuffers b;
    ASSERT_EQ(nvh_dequeue_burst(this->dev_, 0, b.pkts.data(), NVH_MAX_BURST), 1u);
    EXPECT_EQ(b.got(0), f);
    EXPECT_TRUE(this->txq(0).pop_used().has_value());
    // Host -> guest.
    ASSERT_GE(this->rxq(0).add_rx({2048}), 0);
    auto g = frame(1518, 5);
    nvh_packet out = rx_packet(g);
    ASSERT_EQ(nvh_enqueue_burst(this->dev_, 0, &out, 1), 1u);
    auto used = this->rxq(0).pop_used();
    ASSERT_TRUE(used.has_value());
    std::vector<uint8_t> written = this->rxq(0).read_used(*used);
    EXPECT_EQ(num_buffers(written), 1);
    EXPECT_EQ(payload(written), g);
    nvh_vring_stats stats;
    ASSERT_TRUE(nvh_vring_get_stats(this->dev_, 0, &stats));
    EXPECT_EQ(stats.packets, 1u);
    EXPECT_EQ(stats.bytes, 1518u);
    ASSERT_TRUE(nvh_vring_get_stats(this->dev_, 1, &stats));
    EXPECT_EQ(stats.packets, 1u);
    EXPECT_EQ(stats.bytes, 60u);
}

// vhost-user.rst: GET_VRING_BASE stops the ring and answers where it
// stands; for a packed ring avail index and wrap counter in bits 0-15, used
// index and wrap counter in bits 16-31.
TYPED_TEST(DeviceRings, GetVringBaseAnswersInTheRingTypesEncoding) {
    this->ready();
    for (int i = 0; i < 3; i++) {
        ASSERT_GE(this->txq(0).add_tx(TypeParam::Driver::net_header(12), frame(64)), 0);
    }
    TxBuffers b;
    ASSERT_EQ(nvh_dequeue_burst(this->dev_, 0, b.pkts.data(), NVH_MAX_BURST), 3u);
    std::optional<uint32_t> base = this->frontend_->get_vring_base(1);
    ASSERT_TRUE(base.has_value());
    if constexpr (std::is_same_v<TypeParam, Packed>) {
        EXPECT_EQ(*base, (PackedBase{3, true, 3, true}.encode()));
    } else {
        EXPECT_EQ(*base, 3u);
    }
    ASSERT_TRUE(this->wait_state(NVH_STATE_CONNECTED));
}

}  // namespace
}  // namespace nvh::test
