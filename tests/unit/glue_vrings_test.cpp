// SPDX-License-Identifier: Apache-2.0
// The vrings the glue lists in a port's status (vring_<i>_size) and in
// vhostuserclient/show: every vring with a size, not the first n_vrings.
#include <gtest/gtest.h>

#include <vector>

#include "netdev-vhost-vrings.h"

namespace {

std::vector<uint32_t> listed(const nvh_device_info& info) {
    std::vector<uint32_t> out;
    for (uint32_t v = netdev_vhost_next_vring(&info, 0); v < NVH_MAX_VRINGS;
         v = netdev_vhost_next_vring(&info, v + 1)) {
        out.push_back(v);
    }
    return out;
}

TEST(GlueVrings, ListsStartedVringsThatAreNotContiguous) {
    // Queue pairs 0 and 2 set up, pair 1 not: n_vrings is 4, but the
    // vrings are 0, 1, 4 and 5.
    nvh_device_info info{};
    info.n_vrings = 4;
    info.vring_size[0] = info.vring_size[1] = 256;
    info.vring_size[4] = info.vring_size[5] = 1024;
    EXPECT_EQ(listed(info), (std::vector<uint32_t>{0, 1, 4, 5}));
}

TEST(GlueVrings, ListsTheLastVringAndNothingWhenNoneIsSetUp) {
    nvh_device_info info{};
    EXPECT_TRUE(listed(info).empty());
    info.vring_size[NVH_MAX_VRINGS - 1] = 64;
    EXPECT_EQ(listed(info), (std::vector<uint32_t>{NVH_MAX_VRINGS - 1}));
}

}  // namespace
