// SPDX-License-Identifier: Apache-2.0
// Diagnostics through the C ABI: where each vring stands and the memory
// table, as ovs-appctl vhostuserclient/show prints them.
#include <vector>

#include "device_fixture.h"

namespace nvh::test {
namespace {

constexpr uint64_t kFeatures = virtio::bit(virtio::kFVersion1) |
                               virtio::bit(virtio::kFProtocolFeatures);
constexpr uint64_t kAck = virtio::bit(vhost_user::kProtocolFReplyAck);

class DiagnosticsTest : public DeviceFixture {
protected:
    uint32_t dequeue(uint32_t n) {
        std::vector<uint8_t> storage(2048 * NVH_MAX_BURST);
        nvh_packet pkts[NVH_MAX_BURST] = {};
        for (uint32_t i = 0; i < NVH_MAX_BURST; i++) {
            pkts[i].data = storage.data() + 2048 * i;
            pkts[i].capacity = 2048;
        }
        return nvh_dequeue_burst(dev_, 0, pkts, n);
    }
    nvh_vring_position position(uint32_t vring) {
        nvh_vring_position p;
        EXPECT_TRUE(nvh_vring_get_position(dev_, vring, &p));
        return p;
    }
};

TEST_F(DiagnosticsTest, VringPositionsFollowTheDriverAndTheDevice) {
    create(1);
    connect();
    ASSERT_TRUE(frontend_->negotiate(kFeatures, kAck));
    EXPECT_FALSE(position(1).started);
    set_up_rings(1);
    ASSERT_TRUE(enable_pair(0, true));
    std::vector<uint8_t> frame(60, 0x11);
    for (int i = 0; i < 3; i++) {
        ASSERT_GE(txq(0).add_tx(SplitRingDriver::net_header(12), frame), 0);
    }
    ASSERT_EQ(dequeue(32), 3u);
    for (int i = 0; i < 2; i++) {
        ASSERT_GE(txq(0).add_tx(SplitRingDriver::net_header(12), frame), 0);
    }
    nvh_vring_position p = position(1);
    EXPECT_TRUE(p.started);
    EXPECT_FALSE(p.packed);
    EXPECT_FALSE(p.broken);
    EXPECT_EQ(p.last_avail_idx, 3);     // Taken by the device.
    EXPECT_EQ(p.used_idx, 3);           // Returned to the driver.
    EXPECT_EQ(p.driver_avail_idx, 5);   // Made available by the driver.
    EXPECT_EQ(position(0).last_avail_idx, 0);

    nvh_vring_position out;
    EXPECT_FALSE(nvh_vring_get_position(dev_, NVH_MAX_VRINGS, &out));
    EXPECT_FALSE(out.started);
}

TEST_F(DiagnosticsTest, ABrokenRingIsCountedOnce) {
    create(1);
    connect();
    ASSERT_TRUE(frontend_->negotiate(kFeatures, kAck));
    set_up_rings(1);
    ASSERT_TRUE(enable_pair(0, true));
    // virtio 1.2, 2.7.6: at most a queue's worth outstanding; a jump past
    // it breaks the ring, which then is not served.
    txq(0).set_avail_idx(static_cast<uint16_t>(txq(0).num() + 1));
    nvh_vring_stats st;
    for (int i = 0; i < 5; i++) {
        EXPECT_EQ(dequeue(32), 0u);
    }
    ASSERT_TRUE(nvh_vring_get_stats(dev_, 1, &st));
    EXPECT_EQ(st.broken_rings, 1u);
    EXPECT_TRUE(position(1).broken);
    ASSERT_TRUE(nvh_vring_get_stats(dev_, 0, &st));
    EXPECT_EQ(st.broken_rings, 0u);
}

TEST_F(DiagnosticsTest, MemoryTableAsTheFrontendSentIt) {
    create(1);
    nvh_memory_region regions[GuestMemory::kMaxRegions];
    EXPECT_EQ(nvh_device_get_memory(dev_, regions, GuestMemory::kMaxRegions), 0u);
    connect();
    ASSERT_TRUE(frontend_->negotiate(kFeatures, kAck));
    mem_.add_region(0, 1 << 20);
    mem_.add_region(4 << 20, 2 << 20, 0x500000000);
    ASSERT_TRUE(frontend_->send_mem_table(mem_));
    ASSERT_EQ(nvh_device_get_memory(dev_, regions, GuestMemory::kMaxRegions), 2u);
    EXPECT_EQ(regions[0].guest_phys_addr, 0u);
    EXPECT_EQ(regions[0].size, uint64_t{1} << 20);
    EXPECT_EQ(regions[0].userspace_addr, GuestMemoryFixture::kUvaOffset);
    EXPECT_EQ(regions[1].guest_phys_addr, uint64_t{4} << 20);
    EXPECT_EQ(regions[1].size, uint64_t{2} << 20);
    EXPECT_EQ(regions[1].userspace_addr, 0x500000000u);
    // Fewer slots than regions: the count still says how many there are.
    EXPECT_EQ(nvh_device_get_memory(dev_, regions, 1), 2u);
    frontend_->close_connection();
    ASSERT_TRUE(wait_state(NVH_STATE_WAITING));
    EXPECT_EQ(nvh_device_get_memory(dev_, regions, GuestMemory::kMaxRegions), 0u);
}

}  // namespace
}  // namespace nvh::test
