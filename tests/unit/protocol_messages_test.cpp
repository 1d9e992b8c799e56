// SPDX-License-Identifier: Apache-2.0
// vhost-user requests beyond ring setup, through the C ABI and the in-tree
// frontend: NET_SET_MTU, SEND_RARP, SET_STATUS/GET_STATUS, and the clean
// refusal of requests whose protocol feature is not offered.
#include <cstring>
#include <vector>

#include "device/announce.h"
#include "device/device.h"
#include "device_fixture.h"

namespace nvh::test {
namespace {

using vhost_user::Request;

constexpr uint64_t kFeatures = virtio::bit(virtio::kFVersion1) |
                               virtio::bit(virtio::kNetFMrgRxbuf) |
                               virtio::bit(virtio::kFProtocolFeatures) |
                               virtio::bit(virtio::kNetFMtu) |
                               virtio::bit(virtio::kNetFGuestAnnounce);
constexpr uint64_t kAck = virtio::bit(vhost_user::kProtocolFReplyAck);

class ProtocolTest : public DeviceFixture {
protected:
    // Sends `request` with a u64 payload and need_reply; returns the ack
    // status (0 = applied), or -1 if no ack came.
    int64_t send_u64_acked(Request request, uint64_t value) {
        std::vector<uint8_t> payload(8);
        std::memcpy(payload.data(), &value, 8);
        if (!frontend_->send(static_cast<uint32_t>(request), payload, {},
                             vhost_user::kFlagNeedReply)) {
            return -1;
        }
        auto ack = frontend_->receive();
        if (!ack || ack->payload.size() != 8) {
            return -1;
        }
        uint64_t status;
        std::memcpy(&status, ack->payload.data(), 8);
        return static_cast<int64_t>(status);
    }
    std::vector<uint8_t> buffer_ = std::vector<uint8_t>(2048 * 2);
    nvh_packet pkts_[2] = {};
    uint32_t dequeue(uint32_t n) {
        for (uint32_t i = 0; i < 2; i++) {
            pkts_[i] = nvh_packet{};
            pkts_[i].data = buffer_.data() + 2048 * i;
            pkts_[i].capacity = 2048;
        }
        return nvh_dequeue_burst(dev_, 0, pkts_, n);
    }
};

TEST_F(ProtocolTest, NetSetMtuReachesDeviceInfo) {
    create(1);
    connect();
    ASSERT_TRUE(frontend_->negotiate(
        kFeatures, kAck | virtio::bit(vhost_user::kProtocolFNetMtu)));
    EXPECT_EQ(info().mtu, 0u);
    EXPECT_EQ(send_u64_acked(Request::kNetSetMtu, 9000), 0);
    EXPECT_EQ(info().mtu, 9000u);
    // virtio 1.2, 5.1.4.1: 68..65535.
    EXPECT_NE(send_u64_acked(Request::kNetSetMtu, 67), 0);
    EXPECT_NE(send_u64_acked(Request::kNetSetMtu, 65536), 0);
    EXPECT_EQ(info().mtu, 9000u);
    EXPECT_EQ(info().state, NVH_STATE_CONNECTED);
}

TEST_F(ProtocolTest, NetSetMtuNeedsItsProtocolFeature) {
    create(1);
    connect();
    ASSERT_TRUE(frontend_->negotiate(kFeatures, kAck));
    EXPECT_NE(send_u64_acked(Request::kNetSetMtu, 9000), 0);
    EXPECT_EQ(info().mtu, 0u);
    EXPECT_EQ(info().state, NVH_STATE_CONNECTED);
}

TEST_F(ProtocolTest, SendRarpInjectsOneRarpAheadOfTheGuestsFrames) {
    create(1);
    connect();
    ASSERT_TRUE(frontend_->negotiate(
        kFeatures, kAck | virtio::bit(vhost_user::kProtocolFRarp)));
    set_up_rings(1);
    ASSERT_TRUE(enable_pair(0, true));
    ASSERT_EQ(info().state, NVH_STATE_READY);

    const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    uint64_t value = 0;
    std::memcpy(&value, mac, 6);
    EXPECT_NE(send_u64_acked(Request::kSendRarp, 0), 0);   // Not an address.
    EXPECT_EQ(dequeue(2), 0u);
    ASSERT_EQ(send_u64_acked(Request::kSendRarp, value), 0);

    std::vector<uint8_t> frame(64, 0xab);
    ASSERT_GE(txq(0).add_tx(SplitRingDriver::net_header(12), frame), 0);
    ASSERT_EQ(dequeue(2), 2u);
    ASSERT_EQ(pkts_[0].len, kRarpFrameLen);
    const uint8_t* r = pkts_[0].data;
    const uint8_t expected_head[] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff,       // broadcast
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56,       // source: the guest
        0x80, 0x35,                               // RARP
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04,       // Ethernet, IPv4, 6, 4
        0x00, 0x03,                               // request reverse
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56,       // sender hardware address
        0x00, 0x00, 0x00, 0x00,                   // sender protocol address
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56,       // target hardware address
        0x00, 0x00, 0x00, 0x00};                  // target protocol address
    ASSERT_EQ(sizeof expected_head, 42u);
    EXPECT_EQ(std::memcmp(r, expected_head, sizeof expected_head), 0);
    for (uint32_t i = 42; i < kRarpFrameLen; i++) {
        EXPECT_EQ(r[i], 0) << i;
    }
    ASSERT_EQ(pkts_[1].len, frame.size());
    EXPECT_EQ(std::memcmp(pkts_[1].data, frame.data(), frame.size()), 0);
    EXPECT_EQ(dequeue(2), 0u);   // Once only.
}

TEST_F(ProtocolTest, SendRarpNeedsItsProtocolFeature) {
    create(1);
    connect();
    ASSERT_TRUE(frontend_->negotiate(kFeatures, kAck));
    set_up_rings(1);
    ASSERT_TRUE(enable_pair(0, true));
    EXPECT_NE(send_u64_acked(Request::kSendRarp, 0x563412005452ULL), 0);
    EXPECT_EQ(dequeue(2), 0u);
}

TEST_F(ProtocolTest, StatusGatesReadinessOnDriverOk) {
    create(1);
    connect();
    ASSERT_TRUE(frontend_->negotiate(
        kFeatures, kAck | virtio::bit(vhost_user::kProtocolFStatus)));
    set_up_rings(1);
    ASSERT_TRUE(enable_pair(0, true));
    std::vector<uint8_t> frame(64, 0x11);
    ASSERT_GE(txq(0).add_tx(SplitRingDriver::net_header(12), frame), 0);
    // Rings complete, but the driver has not said DRIVER_OK.
    EXPECT_EQ(info().state, NVH_STATE_CONNECTED);
    EXPECT_EQ(info().n_queue_pairs, 0u);
    EXPECT_EQ(dequeue(1), 0u);
    EXPECT_EQ(frontend_->get_u64(Request::kGetStatus), 0u);

    // ACKNOWLEDGE | DRIVER | FEATURES_OK, then DRIVER_OK (virtio 1.2, 3.1.1).
    EXPECT_EQ(send_u64_acked(Request::kSetStatus, 0x0b), 0);
    EXPECT_EQ(info().state, NVH_STATE_CONNECTED);
    EXPECT_EQ(send_u64_acked(Request::kSetStatus, 0x0f), 0);
    EXPECT_EQ(frontend_->get_u64(Request::kGetStatus), 0x0fu);
    EXPECT_EQ(info().state, NVH_STATE_READY);
    EXPECT_EQ(info().n_queue_pairs, 1u);
    EXPECT_EQ(dequeue(1), 1u);

    EXPECT_NE(send_u64_acked(Request::kSetStatus, 0x100), 0);   // Not a byte.
    EXPECT_EQ(frontend_->get_u64(Request::kGetStatus), 0x0fu);

    // Status reset: nothing served, but the rings still answer
    // GET_VRING_BASE, as frontends ask right after.
    EXPECT_EQ(send_u64_acked(Request::kSetStatus, 0), 0);
    EXPECT_EQ(info().state, NVH_STATE_CONNECTED);
    ASSERT_GE(txq(0).add_tx(SplitRingDriver::net_header(12), frame), 0);
    EXPECT_EQ(dequeue(1), 0u);
    EXPECT_EQ(frontend_->get_vring_base(1), 1u);
}

TEST_F(ProtocolTest, StatusNeedsItsProtocolFeature) {
    create(1);
    connect();
    ASSERT_TRUE(frontend_->negotiate(kFeatures, kAck));
    set_up_rings(1);
    ASSERT_TRUE(enable_pair(0, true));
    EXPECT_NE(send_u64_acked(Request::kSetStatus, 0), 0);
    EXPECT_EQ(info().state, NVH_STATE_READY);   // Nothing gated.
}

TEST_F(ProtocolTest, RefusesConfigRequestsAndStaysConnected) {
    create(1);
    connect();
    ASSERT_TRUE(frontend_->negotiate(kFeatures, kAck));
    // Not offered: the config space (the frontend's for virtio-net).
    EXPECT_FALSE(virtio::has(frontend_->offered_protocol_features(),
                             vhost_user::kProtocolFConfig));
    std::vector<uint8_t> config(12 + 8, 0);   // offset, size, flags, data
    ASSERT_TRUE(frontend_->send(static_cast<uint32_t>(Request::kSetConfig), config,
                                {}, vhost_user::kFlagNeedReply));
    auto ack = frontend_->receive();
    ASSERT_TRUE(ack.has_value());
    uint64_t status = 0;
    ASSERT_EQ(ack->payload.size(), 8u);
    std::memcpy(&status, ack->payload.data(), 8);
    EXPECT_NE(status, 0u);
    EXPECT_EQ(frontend_->get_u64(Request::kGetFeatures), device_offered_features(false));
    EXPECT_EQ(info().state, NVH_STATE_CONNECTED);
}

TEST_F(ProtocolTest, OfferedSetsAreTheSameAfterAReconnect) {
    create(1);
    connect();
    ASSERT_TRUE(frontend_->negotiate(kFeatures, kAck));
    uint64_t features = frontend_->offered_features();
    uint64_t protocol = frontend_->offered_protocol_features();
    EXPECT_EQ(protocol, kOfferedProtocolFeatures);
    frontend_->close_connection();
    ASSERT_TRUE(wait_state(NVH_STATE_WAITING));
    ASSERT_TRUE(frontend_->accept(kFixtureTimeoutMs));
    ASSERT_TRUE(frontend_->negotiate(kFeatures, kAck));
    EXPECT_EQ(frontend_->offered_features(), features);
    EXPECT_EQ(frontend_->offered_protocol_features(), protocol);
}

}  // namespace
}  // namespace nvh::test
