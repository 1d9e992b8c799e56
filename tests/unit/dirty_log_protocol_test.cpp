// SPDX-License-Identifier: Apache-2.0
// Dirty-page logging through the C ABI and the in-tree frontend, in the
// order a migrating QEMU uses it (vhost-user.rst, "Migration"):
// SET_LOG_BASE with the shared log, SET_FEATURES with VHOST_F_LOG_ALL on the
// running device, SET_VRING_ADDR with VHOST_VRING_F_LOG, traffic, and
// SET_FEATURES without VHOST_F_LOG_ALL when done.
#include <cstring>
#include <vector>

#include "device_fixture.h"
#include "frontend/shared_log.h"

namespace nvh::test {
namespace {

using vhost_user::Request;

constexpr uint64_t kFeatures = virtio::bit(virtio::kFVersion1) |
                               virtio::bit(virtio::kNetFMrgRxbuf) |
                               virtio::bit(virtio::kFProtocolFeatures);
constexpr uint64_t kLogAll = virtio::bit(virtio::kFLogAll);
constexpr uint64_t kAck = virtio::bit(vhost_user::kProtocolFReplyAck);
constexpr uint64_t kShmfd = virtio::bit(vhost_user::kProtocolFLogShmfd);
// Covers the fixture's 16 MiB of guest memory.
constexpr uint64_t kLogBytes = (16 << 20) / SharedLog::kPage / 8;

class DirtyLogProtocolTest : public DeviceFixture {
protected:
    // SET_LOG_BASE (vhost-user.rst, "Log description"); returns the reply.
    std::optional<VhostUserFrontend::Reply> set_log_base(const SharedLog& log,
                                                         uint64_t size, uint32_t flags = 0) {
        std::vector<uint8_t> payload(16);
        uint64_t offset = log.offset();
        std::memcpy(payload.data(), &size, 8);
        std::memcpy(payload.data() + 8, &offset, 8);
        int fd = log.fd();
        if (!frontend_->send(static_cast<uint32_t>(Request::kSetLogBase), payload,
                             std::span<const int>(&fd, 1), flags)) {
            return std::nullopt;
        }
        return frontend_->receive();
    }
    // Places one frame in rx queue 0; returns the guest-physical address of
    // the buffer it went to.
    uint64_t receive_one(size_t len) {
        rxq(0).add_rx({2048});
        std::vector<uint8_t> f(len, 0x42);
        nvh_packet p{};
        p.data = f.data();
        p.len = static_cast<uint32_t>(len);
        EXPECT_EQ(nvh_enqueue_burst(dev_, 0, &p, 1), 1u);
        auto used = rxq(0).pop_used();
        return used ? used->segments.at(0).gpa : ~uint64_t{0};
    }
    void start(uint64_t protocol_features) {
        create(1);
        connect();
        ASSERT_TRUE(frontend_->negotiate(kFeatures, protocol_features));
        set_up_rings(1);
        ASSERT_TRUE(enable_pair(0, true));
        ASSERT_EQ(info().state, NVH_STATE_READY);
    }
};

TEST_F(DirtyLogProtocolTest, OfferedWithSharedMemoryLogs) {
    create(1);
    connect();
    ASSERT_TRUE(frontend_->negotiate(kFeatures, kAck));
    EXPECT_TRUE(virtio::has(frontend_->offered_features(), virtio::kFLogAll));
    EXPECT_TRUE(virtio::has(frontend_->offered_protocol_features(),
                            vhost_user::kProtocolFLogShmfd));
}

// A planned restart does not hand over a connection with a dirty log: QEMU
// shares the log (SET_LOG_BASE) before it sets VHOST_F_LOG_ALL, and a
// successor without it would not record its writes.  The device goes on
// serving; the connection would close and reconnect at the restart.
TEST_F(DirtyLogProtocolTest, ConnectionWithASharedLogIsNotHandedOver) {
    start(kAck | kShmfd);
    SharedLog log(kLogBytes);
    ASSERT_TRUE(set_log_base(log, kLogBytes).has_value());
    nvh_handover* h = nvh_handover_create();
    char err[128] = "";
    EXPECT_EQ(nvh_device_hand_over(dev_, h, err, sizeof err), EBUSY);
    EXPECT_STREQ(err, "a dirty log is shared (a migration)");
    EXPECT_EQ(nvh_handover_finish(h, nullptr, nullptr, 0, nullptr, 0), 0);
    EXPECT_NE(receive_one(100), ~uint64_t{0});
    EXPECT_FALSE(frontend_->wait_peer_closed(50));
}

TEST_F(DirtyLogProtocolTest, MigrationMarksWhatTheDeviceWritesWhileLogging) {
    start(kAck | kShmfd);
    SharedLog log(kLogBytes);
    // QEMU reads a reply without payload (hw/virtio/vhost-user.c).
    auto reply = set_log_base(log, kLogBytes);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->request, static_cast<uint32_t>(Request::kSetLogBase));
    EXPECT_TRUE(reply->payload.empty());

    // Shared but not asked for yet: nothing is logged.
    receive_one(100);
    EXPECT_TRUE(log.marked().empty());

    // Logging on, on the running device; the rings' addresses again with
    // VHOST_VRING_F_LOG, as QEMU sends them.  Nothing the glue would
    // reconfigure for changes: no state_changed call.
    const int changes = state_changes_.load();
    ASSERT_TRUE(frontend_->set_u64(Request::kSetFeatures, kFeatures | kLogAll));
    for (uint32_t v = 0; v < 2; v++) {
        VringAddresses a = rings_[v]->addresses();
        a.flags = 1;   // VHOST_VRING_F_LOG
        ASSERT_TRUE(frontend_->set_vring_addr(v, a));
    }
    ASSERT_EQ(info().state, NVH_STATE_READY);
    EXPECT_TRUE(virtio::has(info().features, virtio::kFLogAll));
    EXPECT_EQ(state_changes_.load(), changes);
    log.clear();
    uint64_t buf = receive_one(1000);
    auto marked = log.marked();
    for (uint64_t p : SharedLog::pages_of(buf, 12 + 1000)) {
        EXPECT_TRUE(marked.count(p)) << "buffer page " << p;
    }
    EXPECT_GT(marked.size(), SharedLog::pages_of(buf, 12 + 1000).size())
        << "the used ring was not logged";

    // A new log replaces the old one.
    SharedLog second(kLogBytes);
    ASSERT_TRUE(set_log_base(second, kLogBytes).has_value());
    log.clear();
    buf = receive_one(60);
    EXPECT_TRUE(log.marked().empty());
    EXPECT_TRUE(second.marked().count(buf / SharedLog::kPage));

    // Logging off: the guest's memory is written, the log is not.
    ASSERT_TRUE(frontend_->set_u64(Request::kSetFeatures, kFeatures));
    second.clear();
    receive_one(60);
    EXPECT_TRUE(second.marked().empty());
    EXPECT_EQ(info().state, NVH_STATE_READY);
}

TEST_F(DirtyLogProtocolTest, OnlyLogAllMayChangeOnARunningDevice) {
    start(kAck | kShmfd);
    ASSERT_TRUE(frontend_->set_u64(Request::kSetFeatures, kFeatures | kLogAll));
    ASSERT_EQ(info().state, NVH_STATE_READY);
    // virtio 1.2, 3.1.1: any other change on a live device is refused.
    frontend_->set_u64(Request::kSetFeatures,
                       (kFeatures | kLogAll) & ~virtio::bit(virtio::kNetFMrgRxbuf));
    EXPECT_TRUE(wait_state(NVH_STATE_WAITING));
}

TEST_F(DirtyLogProtocolTest, NeedsTheSharedMemoryProtocolFeature) {
    start(kAck);
    SharedLog log(kLogBytes);
    auto ack = set_log_base(log, kLogBytes, vhost_user::kFlagNeedReply);
    ASSERT_TRUE(ack.has_value());
    ASSERT_EQ(ack->payload.size(), 8u);
    uint64_t status = 0;
    std::memcpy(&status, ack->payload.data(), 8);
    EXPECT_NE(status, 0u);
    EXPECT_EQ(info().state, NVH_STATE_READY);
}

TEST_F(DirtyLogProtocolTest, ALogLargerThanItsFileClosesTheConnection) {
    start(kAck | kShmfd);
    SharedLog log(kLogBytes);
    set_log_base(log, kLogBytes + 1);
    ASSERT_TRUE(wait_state(NVH_STATE_WAITING));
    EXPECT_NE(std::string(info().last_error).find("SET_LOG_BASE"), std::string::npos);
}

TEST_F(DirtyLogProtocolTest, UnknownRingAddressFlagsCloseTheConnection) {
    start(kAck | kShmfd);
    VringAddresses a = rings_[0]->addresses();
    a.flags = 2;   // vhost-user.rst defines bit 0 only.
    frontend_->set_vring_addr(0, a);
    ASSERT_TRUE(wait_state(NVH_STATE_WAITING));
}

TEST_F(DirtyLogProtocolTest, LogFdIsAccepted) {
    start(kAck | kShmfd);
    UniqueFd efd(::eventfd(0, EFD_CLOEXEC));
    int fd = efd.get();
    ASSERT_TRUE(frontend_->send(static_cast<uint32_t>(Request::kSetLogFd), {},
                                std::span<const int>(&fd, 1), vhost_user::kFlagNeedReply));
    auto ack = frontend_->receive();
    ASSERT_TRUE(ack.has_value());
    ASSERT_EQ(ack->payload.size(), 8u);
    uint64_t status = 1;
    std::memcpy(&status, ack->payload.data(), 8);
    EXPECT_EQ(status, 0u);
    EXPECT_EQ(info().state, NVH_STATE_READY);
}

}  // namespace
}  // namespace nvh::test
