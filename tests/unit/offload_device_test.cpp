// A device offers the offload features only when created with offloads
// (nvh_device_config.offloads), and then accepts them in SET_FEATURES.
#include <unistd.h>

#include <atomic>
#include <string>

#include <gtest/gtest.h>

#include "device.h"
#include "device_fixture.h"
#include "message_handler.h"
#include "net_header.h"

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

TEST_F(OffloadDeviceTest, OffersOnlyReceiveOffloadsByDefault) {
    // As dpdkvhostuserclient without userspace-tso-enable: GUEST_CSUM and
    // GUEST_TSO4/6 stay offered, CSUM and HOST_TSO4/6 do not.
    create_with(false);
    connect();
    const uint64_t wanted = virtio::bit(virtio::kFVersion1) | kGuestOffloadFeatures;
    ASSERT_TRUE(frontend_->negotiate(wanted, 0));
    EXPECT_EQ(frontend_->offered_features(), device_offered_features(false));
    EXPECT_EQ(device_offered_features(false), kOfferedFeatures | kGuestOffloadFeatures);
    EXPECT_EQ(frontend_->offered_features() & kHostOffloadFeatures, 0u);
    ASSERT_TRUE(wait_for([&] { return info().features == wanted; }));
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
