// SPDX-License-Identifier: Apache-2.0
// A device offers the offload features only when created with offloads
// (nvh_device_config.offloads), and then accepts them in SET_FEATURES.
#include <unistd.h>

#include <atomic>
#include <string>

#include <gtest/gtest.h>

#include "device/device.h"
#include "device_fixture.h"
#include "vhost_user/message_handler.h"
#include "net/net_header.h"

namespace nvh::test {
namespace {

class OffloadDeviceTest : public DeviceFixture {
protected:
    void create_with(bool offloads) {
        nvh_device_config config{};
        config.socket_path = path_.c_str();
        config.max_queue_pairs = 1;
        config.offloads = offloads;
        char err[128] = "";
        ASSERT_EQ(nvh_device_create(&config, &dev_, err, sizeof err), 0) << err;
    }
};

TEST_F(OffloadDeviceTest, OffersOffloadsWhenAsked) {
    create_with(true);
    connect();
    const uint64_t wanted = virtio::bit(virtio::kFVersion1) | kOffloadFeatures;
    ASSERT_TRUE(frontend_->negotiate(wanted, 0));
    EXPECT_EQ(frontend_->offered_features(), device_offered_features(true));
    ASSERT_TRUE(wait_for([&] { return info().features == wanted; }));
}

TEST_F(OffloadDeviceTest, OffersWhatDpdkvhostuserclientOffersByDefault) {
    // As dpdkvhostuserclient without userspace-tso-enable (OVS 3.1 on DPDK
    // 22.11: no VIRTIO_NET_F_CSUM, and linear buffers without external ones
    // withdraw HOST_TSO4, HOST_TSO6 and HOST_UFO): every receive offload and
    // HOST_ECN.  A guest negotiating all of them, as one moved from that port
    // type would, is accepted.
    create_with(false);
    connect();
    const uint64_t wanted = virtio::bit(virtio::kFVersion1) | kGuestOffloadFeatures |
                            kUnusableHostOffloadFeatures;
    ASSERT_TRUE(frontend_->negotiate(wanted, 0));
    EXPECT_EQ(frontend_->offered_features(), device_offered_features(false));
    EXPECT_EQ(device_offered_features(false),
              kOfferedFeatures | kGuestOffloadFeatures | kUnusableHostOffloadFeatures);
    for (unsigned bit : {virtio::kNetFGuestCsum, virtio::kNetFGuestTso4,
                         virtio::kNetFGuestTso6, virtio::kNetFGuestEcn,
                         virtio::kNetFGuestUfo, virtio::kNetFHostEcn}) {
        EXPECT_TRUE(virtio::has(frontend_->offered_features(), bit)) << bit;
    }
    // A guest that acked one of these on this port could not move to the
    // built-in one (QEMU: "Features ... unsupported" on the destination).
    for (unsigned bit : {virtio::kNetFCsum, virtio::kNetFHostTso4,
                         virtio::kNetFHostTso6, virtio::kNetFHostUfo}) {
        EXPECT_FALSE(virtio::has(frontend_->offered_features(), bit)) << bit;
    }
    ASSERT_TRUE(wait_for([&] { return info().features == wanted; }));
}

TEST_F(OffloadDeviceTest, WithOffloadsEcnAndUfoTransmitAreNotOffered) {
    // OVS 3.1 disables HOST_ECN and HOST_UFO with userspace TSO.
    create_with(true);
    connect();
    ASSERT_TRUE(frontend_->negotiate(virtio::bit(virtio::kFVersion1), 0));
    EXPECT_FALSE(virtio::has(frontend_->offered_features(), virtio::kNetFHostEcn));
    EXPECT_FALSE(virtio::has(frontend_->offered_features(), virtio::kNetFHostUfo));
    EXPECT_TRUE(virtio::has(frontend_->offered_features(), virtio::kNetFGuestUfo));
}

TEST_F(OffloadDeviceTest, RefusesTransmitOffloadsNotOffered) {
    // virtio 1.2, 3.1.1: a driver may accept only offered features.
    create_with(false);
    connect();
    const uint64_t wanted = virtio::bit(virtio::kFVersion1) | virtio::bit(virtio::kNetFCsum);
    frontend_->negotiate(wanted, 0);
    ASSERT_TRUE(wait_for([&] { return info().state == NVH_STATE_WAITING; }));
    EXPECT_NE(std::string(info().last_error), "");
}

}  // namespace
}  // namespace nvh::test
