// SPDX-License-Identifier: Apache-2.0
// device_fixture.h: a device created through the C ABI with the in-tree
// frontend at its socket path, and any number of queue pairs of split or
// packed rings (DeviceFixtureT<Split> / <Packed>, ring_harness.h) set up on
// one guest memory region.  Shared by the multiqueue, protocol and device
// ring tests.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "frontend/guest_memory_fixture.h"
#include "frontend/vhost_user_frontend.h"
#include "ring_harness.h"
#include "vhost_user/message_handler.h"
#include "netdev-vhost/nvh.h"
#include "base/unique_fd.h"
#include "base/virtio_spec.h"

namespace nvh::test {

inline constexpr int kFixtureTimeoutMs = 5000;

inline bool wait_for(const std::function<bool()>& condition,
                     int timeout_ms = kFixtureTimeoutMs) {
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return condition();
}

template <typename R>
class DeviceFixtureT : public ::testing::Test {
protected:
    using Driver = typename R::Driver;

    void SetUp() override {
        static std::atomic<int> counter{0};
        path_ = ::testing::TempDir() + "nvh-fx-" + std::to_string(::getpid()) +
                "-" + std::to_string(counter.fetch_add(1)) + ".sock";
        frontend_ = std::make_unique<VhostUserFrontend>(path_);
    }
    void TearDown() override {
        if (dev_) {
            nvh_device_destroy(dev_);
        }
        frontend_.reset();
        ::unlink(path_.c_str());
    }

    // state_changed counts its calls in state_changes_.
    void create(uint32_t max_queue_pairs) {
        nvh_device_config config{path_.c_str(), max_queue_pairs, &count_state_change,
                                 &state_changes_};
        char err[128] = "";
        ASSERT_EQ(nvh_device_create(&config, &dev_, err, sizeof err), 0) << err;
    }
    nvh_device_info info() {
        nvh_device_info i;
        nvh_device_get_info(dev_, &i);
        return i;
    }
    bool wait_state(nvh_connection_state s) {
        return wait_for([&] { return info().state == s; });
    }
    void connect() {
        ASSERT_TRUE(frontend_->listen());
        ASSERT_TRUE(frontend_->accept(kFixtureTimeoutMs));
        ASSERT_TRUE(wait_state(NVH_STATE_CONNECTED));
    }
    // Memory and the rings of pairs 0..n_pairs-1, not yet enabled.
    void set_up_rings(uint32_t n_pairs) {
        mem_.add_region(0, 16 << 20);
        ASSERT_TRUE(frontend_->send_mem_table(mem_));
        for (uint32_t v = 0; v < 2 * n_pairs; v++) {
            const Driver& r = add_ring();
            ASSERT_TRUE(frontend_->set_vring_state(vhost_user::Request::kSetVringNum, v, r.num()));
            ASSERT_TRUE(frontend_->set_vring_state(vhost_user::Request::kSetVringBase, v,
                                                   R::kBase));
            ASSERT_TRUE(frontend_->set_vring_addr(v, r.addresses()));
            ASSERT_TRUE(frontend_->set_vring_fd(vhost_user::Request::kSetVringCall, v,
                                                calls_.back().get()));
            ASSERT_TRUE(frontend_->set_vring_fd(vhost_user::Request::kSetVringKick, v,
                                                kicks_.back().get()));
        }
    }
    // One queue pair: created, connected, `features` and
    // `protocol_features` negotiated, the pair set up and enabled: READY.
    void ready_one_pair(uint64_t features, uint64_t protocol_features) {
        create(1);
        connect();
        ASSERT_TRUE(frontend_->negotiate(features, protocol_features));
        set_up_and_enable_rings(1);
        ASSERT_TRUE(wait_state(NVH_STATE_READY));
    }
    // Memory and the rings of pairs 0..n_pairs-1 through
    // VhostUserFrontend::setup_vring, enabled.
    void set_up_and_enable_rings(uint32_t n_pairs) {
        mem_.add_region(0, 16 << 20);
        ASSERT_TRUE(frontend_->send_mem_table(mem_));
        for (uint32_t v = 0; v < 2 * n_pairs; v++) {
            const Driver& r = add_ring();
            ASSERT_TRUE(frontend_->setup_vring(v, r, kicks_.back().get(), calls_.back().get()));
        }
    }
    const Driver& add_ring() {
        rings_.push_back(std::make_unique<Driver>(mem_, 64, 2048));
        kicks_.emplace_back(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        calls_.emplace_back(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        return *rings_.back();
    }
    bool enable_pair(uint32_t qp, bool on) {
        return frontend_->set_vring_state(vhost_user::Request::kSetVringEnable, 2 * qp, on) &&
               frontend_->set_vring_state(vhost_user::Request::kSetVringEnable, 2 * qp + 1, on);
    }
    Driver& rxq(uint32_t qp) { return *rings_[2 * qp]; }
    Driver& txq(uint32_t qp) { return *rings_[2 * qp + 1]; }

    static void count_state_change(void* aux) {
        static_cast<std::atomic<int>*>(aux)->fetch_add(1);
    }

    std::atomic<int> state_changes_{0};
    std::string path_;
    std::unique_ptr<VhostUserFrontend> frontend_;
    nvh_device* dev_ = nullptr;
    GuestMemoryFixture mem_;
    std::vector<std::unique_ptr<Driver>> rings_;
    std::vector<UniqueFd> kicks_, calls_;
};

using DeviceFixture = DeviceFixtureT<Split>;

}  // namespace nvh::test
