// SPDX-License-Identifier: Apache-2.0
// Tests of FeatureRefusalWatch (device/feature_refusal.h): a frontend that
// keeps hanging up after reading the offered features, as QEMU does when
// the guest negotiated a feature the backend lacks, shows in the device's
// warning and log; a frontend that sets features clears it.
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "base/virtio_spec.h"
#include "device/device.h"
#include "device/feature_refusal.h"
#include "frontend/vhost_user_frontend.h"
#include "netdev-vhost/nvh.h"

namespace nvh::test {
namespace {

using vhost_user::Request;
constexpr auto kGet = static_cast<uint32_t>(Request::kGetFeatures);
constexpr auto kSet = static_cast<uint32_t>(Request::kSetFeatures);
constexpr auto kOwner = static_cast<uint32_t>(Request::kSetOwner);

TEST(FeatureRefusalWatch, ThreeHangUpsAfterReadingInARowAreARefusal) {
    FeatureRefusalWatch watch;
    for (uint32_t i = 1; i <= FeatureRefusalWatch::kThreshold; i++) {
        EXPECT_FALSE(watch.refusing());
        watch.on_request(kOwner);
        watch.on_request(kGet);
        EXPECT_EQ(watch.on_disconnect(), i == FeatureRefusalWatch::kThreshold) << i;
    }
    EXPECT_TRUE(watch.refusing());
    // Reported once, not at every further hang-up.
    watch.on_request(kGet);
    EXPECT_FALSE(watch.on_disconnect());
    EXPECT_TRUE(watch.refusing());
    // A frontend that sets features is content with them.
    watch.on_request(kGet);
    watch.on_request(kSet);
    EXPECT_FALSE(watch.refusing());
    EXPECT_FALSE(watch.on_disconnect());
    EXPECT_EQ(watch.in_a_row(), 0u);
}

TEST(FeatureRefusalWatch, OtherEndingsBreakTheRow) {
    FeatureRefusalWatch watch;
    watch.on_request(kGet);
    watch.on_disconnect();
    watch.on_request(kGet);
    watch.on_disconnect();
    watch.on_request(kOwner);   // Closed before reading the features.
    watch.on_disconnect();
    watch.on_request(kGet);
    watch.on_disconnect();
    EXPECT_FALSE(watch.refusing());
    EXPECT_EQ(watch.in_a_row(), 1u);
}

bool wait_until(const std::function<bool()>& condition) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return condition();
}

std::string warning_of(nvh_device* dev) {
    nvh_device_info info{};
    nvh_device_get_info(dev, &info);
    return info.warning;
}

TEST(FeatureRefusalWatch, DeviceWarnsOfAFrontendThatKeepsHangingUp) {
    std::string path = ::testing::TempDir() + "nvh-refusal-" + std::to_string(::getpid()) + ".sock";
    VhostUserFrontend frontend(path);
    ASSERT_TRUE(frontend.listen());
    nvh_device_config config{};
    config.socket_path = path.c_str();
    nvh_device* dev = nullptr;
    char err[128] = "";
    ASSERT_EQ(nvh_device_create(&config, &dev, err, sizeof err), 0) << err;

    for (uint32_t i = 0; i < FeatureRefusalWatch::kThreshold; i++) {
        ASSERT_TRUE(frontend.accept(5000)) << i;
        ASSERT_TRUE(frontend.set_owner());
        ASSERT_TRUE(frontend.get_u64(Request::kGetFeatures).has_value());
        if (i + 1 < FeatureRefusalWatch::kThreshold) {
            EXPECT_EQ(warning_of(dev), "") << i;
        }
        frontend.close_connection();
    }
    EXPECT_TRUE(wait_until([&] { return warning_of(dev) == kFeaturesRefusedWarning; }))
        << warning_of(dev);

    // A frontend content with the features clears the warning.
    ASSERT_TRUE(frontend.accept(5000));
    ASSERT_TRUE(frontend.negotiate(virtio::bit(virtio::kFVersion1), 0));
    EXPECT_TRUE(wait_until([&] { return warning_of(dev).empty(); })) << warning_of(dev);

    nvh_device_destroy(dev);
    frontend.stop_listening();
    ::unlink(path.c_str());
}

}  // namespace
}  // namespace nvh::test
