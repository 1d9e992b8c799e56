// SPDX-License-Identifier: Apache-2.0
// A connection handed over at a planned restart (nvh.h, "Planned restart"):
// a device stops between bursts and gives its connection to the keeper
// (netdev-vhost-keeper, the real program); a new device on the same socket
// path takes it and resumes the rings where the first stopped, over the
// same socket, without the frontend seeing a disconnect.  Also: a state of
// another version is refused (the connection closes and the device
// reconnects), records that cannot be read, a keeper whose frontend hangs up
// or sends a request drops the connection, and one told that nobody will
// take the rest (nvh_handover_release) closes it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

#include "device/keeper_link.h"
#include "device_fixture.h"
#include "netdev-vhost/nvh.h"
#include "ring_harness.h"
#include "vhost_user/state_record.h"

namespace nvh::test {
namespace {

constexpr uint64_t kProtocolFeatures =
    virtio::bit(vhost_user::kProtocolFMq) | virtio::bit(vhost_user::kProtocolFReplyAck);

template <typename R>
class Handover : public DeviceFixtureT<R> {
protected:
    static constexpr uint64_t kFeatures =
        kMrg | virtio::bit(virtio::kFProtocolFeatures) | R::kFeatures;

    void SetUp() override {
        DeviceFixtureT<R>::SetUp();
        keeper_ = this->path_ + ".keeper";
    }
    void TearDown() override {
        ::unsetenv("NETDEV_VHOST_STATE_VERSION");
        DeviceFixtureT<R>::TearDown();
        ::unlink(keeper_.c_str());
    }

    void ready() { this->ready_one_pair(kFeatures, kProtocolFeatures); }
    // Moves `n` frames each way, so that the rings stand somewhere else
    // than where they started (past a wrap of the 64-entry rings).
    void traffic(int n) {
        for (int i = 0; i < n; i++) {
            auto f = frame(60, static_cast<uint8_t>(i));
            ASSERT_GE(this->txq(0).add_tx(R::Driver::net_header(12), f), 0);
            TxBuffers b;
            ASSERT_EQ(nvh_dequeue_burst(this->dev_, 0, b.pkts.data(), NVH_MAX_BURST), 1u);
            ASSERT_EQ(b.got(0), f);
            ASSERT_TRUE(this->txq(0).pop_used().has_value());
            ASSERT_GE(this->rxq(0).add_rx({2048}), 0);
            nvh_packet out = rx_packet(f);
            ASSERT_EQ(nvh_enqueue_burst(this->dev_, 0, &out, 1), 1u);
            ASSERT_TRUE(this->rxq(0).pop_used().has_value());
        }
    }
    // Hands the device's connection to a keeper and destroys the device.
    void hand_over() {
        nvh_handover* h = nvh_handover_create();
        char err[128] = "";
        ASSERT_EQ(nvh_device_hand_over(this->dev_, h, err, sizeof err), 0) << err;
        nvh_device_destroy(this->dev_);
        this->dev_ = nullptr;
        ASSERT_EQ(nvh_handover_finish(h, NVH_KEEPER_PROGRAM, keeper_.c_str(), 10000, err,
                                      sizeof err),
                  1)
            << err;
    }
    // A device on the same path that asks the keeper first.
    void create_resuming() {
        nvh_device_config config{this->path_.c_str(), 1, nullptr, nullptr};
        config.handover_socket = keeper_.c_str();
        char err[128] = "";
        ASSERT_EQ(nvh_device_create(&config, &this->dev_, err, sizeof err), 0) << err;
    }

    std::string keeper_;
};
TYPED_TEST_SUITE(Handover, RingTypes, RingTypeNames);

TYPED_TEST(Handover, ResumesTheRingsOverTheSameSocket) {
    this->ready();
    this->traffic(70);
    this->hand_over();
    // The socket stays open: the keeper holds it.
    EXPECT_FALSE(this->frontend_->wait_peer_closed(100));
    // The guest queues a frame while no process serves it.
    auto queued = frame(100, 9);
    ASSERT_GE(this->txq(0).add_tx(TypeParam::Driver::net_header(12), queued), 0);

    this->create_resuming();
    ASSERT_TRUE(this->wait_state(NVH_STATE_READY));
    nvh_device_info i = this->info();
    EXPECT_EQ(i.n_resumes, 1u);
    EXPECT_EQ(i.n_connects, 1u);   // The first device's connection, kept.
    EXPECT_EQ(i.features, TestFixture::kFeatures);
    EXPECT_EQ(i.n_queue_pairs, 1u);
    EXPECT_GE(i.connected_ms, 0u);
    // The frame queued meanwhile comes out first, then traffic goes on.
    TxBuffers b;
    ASSERT_EQ(nvh_dequeue_burst(this->dev_, 0, b.pkts.data(), NVH_MAX_BURST), 1u);
    EXPECT_EQ(b.got(0), queued);
    EXPECT_TRUE(this->txq(0).pop_used().has_value());
    this->traffic(10);
    // Same socket: the frontend's next request is answered by the new
    // device, and it never accepted a second connection.
    EXPECT_EQ(this->frontend_->get_u64(vhost_user::Request::kGetQueueNum), 1u);
    EXPECT_FALSE(this->frontend_->accept(100));
}

TYPED_TEST(Handover, StoppedDataPathTakesNothingAfterTheHandover) {
    this->ready();
    nvh_handover* h = nvh_handover_create();
    char err[128] = "";
    ASSERT_EQ(nvh_device_hand_over(this->dev_, h, err, sizeof err), 0) << err;
    auto f = frame(60, 1);
    ASSERT_GE(this->txq(0).add_tx(TypeParam::Driver::net_header(12), f), 0);
    TxBuffers b;
    EXPECT_EQ(nvh_dequeue_burst(this->dev_, 0, b.pkts.data(), NVH_MAX_BURST), 0u);
    // A second hand-over of the same device has no connection left.
    nvh_handover* h2 = nvh_handover_create();
    EXPECT_EQ(nvh_device_hand_over(this->dev_, h2, err, sizeof err), ENOTCONN);
    EXPECT_EQ(nvh_handover_finish(h2, nullptr, nullptr, 0, nullptr, 0), 0);
    // Without a keeper the connection closes with the handover.
    EXPECT_EQ(nvh_handover_finish(h, nullptr, nullptr, 0, nullptr, 0), 0);
    nvh_device_destroy(this->dev_);
    this->dev_ = nullptr;
    EXPECT_TRUE(this->frontend_->wait_peer_closed(kFixtureTimeoutMs));
}

TYPED_TEST(Handover, StateOfAnotherVersionIsRefusedAndTheDeviceReconnects) {
    this->ready();
    this->traffic(3);
    this->hand_over();
    ::setenv("NETDEV_VHOST_STATE_VERSION", "999", 1);
    this->create_resuming();
    // The handed-over connection closes; the device connects again.
    EXPECT_TRUE(this->frontend_->wait_peer_closed(kFixtureTimeoutMs));
    ASSERT_TRUE(this->frontend_->accept(kFixtureTimeoutMs));
    ASSERT_TRUE(this->wait_state(NVH_STATE_CONNECTED));
    EXPECT_EQ(this->info().n_resumes, 0u);
    EXPECT_EQ(this->info().n_connects, 1u);
}

TYPED_TEST(Handover, KeeperDropsAConnectionWhoseFrontendHungUp) {
    this->ready();
    this->hand_over();
    this->frontend_->close_connection();
    // The keeper lets it go and, holding nothing more, exits.
    EXPECT_TRUE(wait_for([&] { return ::access(this->keeper_.c_str(), F_OK) != 0; }));
    vhost_user::StateRecord record;
    std::string why;
    EXPECT_FALSE(keeper::take_from_keeper(this->keeper_.c_str(), this->path_, &record, &why));
}

TYPED_TEST(Handover, KeeperClosesAConnectionWhoseFrontendSendsARequest) {
    this->ready();
    this->hand_over();
    // QEMU stopping a guest asks for the ring bases and waits: the keeper
    // cannot answer, so the frontend gets the disconnect instead.
    uint32_t request[3] = {uint32_t(vhost_user::Request::kGetFeatures), vhost_user::kVersion, 0};
    ASSERT_TRUE(this->frontend_->send_raw(
        {reinterpret_cast<const uint8_t*>(request), sizeof request}));
    EXPECT_TRUE(this->frontend_->wait_peer_closed(kFixtureTimeoutMs));
    EXPECT_TRUE(wait_for([&] { return ::access(this->keeper_.c_str(), F_OK) != 0; }));
}

TYPED_TEST(Handover, ReleaseClosesWhatNobodyTook) {
    this->ready();
    this->hand_over();
    EXPECT_FALSE(this->frontend_->wait_peer_closed(100));
    // The next process created its devices and took nothing for this one
    // (deleted meanwhile, or served by another backend now).
    nvh_handover_release(this->keeper_.c_str());
    EXPECT_TRUE(this->frontend_->wait_peer_closed(kFixtureTimeoutMs));
    EXPECT_TRUE(wait_for([&] { return ::access(this->keeper_.c_str(), F_OK) != 0; }));
    // Without a keeper it returns at once.
    nvh_handover_release(this->keeper_.c_str());
}

TEST(HandoverWithoutConnection, IsRefusedAndChangesNothing) {
    std::string path = ::testing::TempDir() + "nvh-ho-none.sock";
    nvh_device_config config{path.c_str(), 1, nullptr, nullptr};
    nvh_device* dev = nullptr;
    char err[128] = "";
    ASSERT_EQ(nvh_device_create(&config, &dev, err, sizeof err), 0) << err;
    nvh_handover* h = nvh_handover_create();
    EXPECT_EQ(nvh_device_hand_over(dev, h, err, sizeof err), ENOTCONN);
    EXPECT_STREQ(err, "not connected");
    EXPECT_EQ(nvh_handover_finish(h, NVH_KEEPER_PROGRAM, "/nonexistent/k", 0, err, sizeof err),
              0);   // Nothing to hold: no keeper is started.
    nvh_device_destroy(dev);
}

TEST(StateRecord, ReaderRefusesWhatItCannotRead) {
    vhost_user::StateRecord empty;
    EXPECT_FALSE(vhost_user::StateReader::open(&empty));

    vhost_user::StateRecord record;
    record.fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
    vhost_user::StateWriter w(&record, vhost_user::StateHeader{});
    w.u64(vhost_user::Request::kSetFeatures, 1);
    w.vring_state(vhost_user::Request::kSetVringNum, 0, 64);
    w.finish();

    // One message of `r`; fails the test if the record is cut short.
    struct Step {
        vhost_user::Header h{};
        bool ok = false;
        bool more = false;
    };
    auto next = [](vhost_user::StateReader& r) {
        Step step;
        std::span<const uint8_t> payload;
        std::span<UniqueFd> fds;
        step.ok = static_cast<bool>(r.next(&step.h, &payload, &fds, &step.more));
        return step;
    };
    // Read back whole.
    {
        auto r = vhost_user::StateReader::open(&record);
        ASSERT_TRUE(r);
        Step s1 = next(r.value());
        ASSERT_TRUE(s1.ok && s1.more);
        EXPECT_EQ(s1.h.request, uint32_t(vhost_user::Request::kSetFeatures));
        EXPECT_EQ(s1.h.size, 8u);
        Step s2 = next(r.value());
        ASSERT_TRUE(s2.ok && s2.more);
        EXPECT_EQ(s2.h.request, uint32_t(vhost_user::Request::kSetVringNum));
        Step end = next(r.value());
        ASSERT_TRUE(end.ok);
        EXPECT_FALSE(end.more);
    }
    // Cut short: the second message is incomplete.
    vhost_user::StateRecord cut;
    cut.fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
    cut.bytes.assign(record.bytes.begin(), record.bytes.end() - 3);
    {
        auto r = vhost_user::StateReader::open(&cut);
        ASSERT_TRUE(r);
        EXPECT_TRUE(next(r.value()).ok);
        EXPECT_FALSE(next(r.value()).ok);
    }
    // Not a state at all.
    vhost_user::StateRecord other = {};
    other.fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
    other.bytes.assign(record.bytes.size(), 0x5a);
    EXPECT_FALSE(vhost_user::StateReader::open(&other));
}

}  // namespace
}  // namespace nvh::test
