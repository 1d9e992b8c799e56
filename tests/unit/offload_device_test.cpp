// A device offers the offload features only when created with offloads
// (nvh_device_config.offloads), and then accepts them in SET_FEATURES.
#include <unistd.h>

#include <atomic>
#include <string>

#include <gtest/gtest.h>

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
    EXPECT_EQ(frontend_->offered_features(), kOfferedFeatures | kOffloadFeatures);
    ASSERT_TRUE(wait_for([&] { return info().features == wanted; }));
}

TEST_F(OffloadDeviceTest, OffersNoOffloadByDefault) {
    create_with(false);
    connect();
    ASSERT_TRUE(frontend_->negotiate(virtio::bit(virtio::kFVersion1), 0));
    EXPECT_EQ(frontend_->offered_features(), kOfferedFeatures);
    EXPECT_EQ(frontend_->offered_features() & kOffloadFeatures, 0u);
}

}  // namespace
}  // namespace nvh::test
