// SPDX-License-Identifier: Apache-2.0
// vhost_user_frontend.h: an in-tree vhost-user FRONTEND for tests: a unix
// server socket that accepts the device's connection and sends requests the
// way QEMU does (header + payload in one sendmsg, fds as SCM_RIGHTS).
//
//     VhostUserFrontend fe(path);
//     fe.listen();
//     fe.accept(5000);                        // the device connects
//     fe.negotiate(features, protocol_features);
//     fe.send_mem_table(mem);                 // a GuestMemoryFixture
//     fe.setup_vring(0, rxq, kick, call);     // a SplitRingDriver
//
// Every helper returns false (or nullopt) on a socket error, a timeout, or a
// reply that is not what the protocol says.  With REPLY_ACK negotiated the
// set-type helpers ask for an ack and wait for it, so when they return the
// device has applied the request.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "frontend/guest_memory_fixture.h"
#include "frontend/packed_ring_driver.h"
#include "frontend/split_ring_driver.h"
#include "base/unique_fd.h"
#include "vhost_user/vhost_user_message.h"
#include "ring/virtqueue.h"

namespace nvh::test {

class VhostUserFrontend {
public:
    struct Reply {
        uint32_t request;
        uint32_t flags;
        std::vector<uint8_t> payload;
    };

    explicit VhostUserFrontend(std::string path);
    ~VhostUserFrontend();
    VhostUserFrontend(const VhostUserFrontend&) = delete;
    VhostUserFrontend& operator=(const VhostUserFrontend&) = delete;

    const std::string& path() const { return path_; }

    // Binds and listens at path() (replacing a stale socket file).
    bool listen();
    // Closes the listener and removes the socket file.
    void stop_listening();
    // Waits up to timeout_ms for the device to connect.
    bool accept(int timeout_ms);
    // Closes the accepted connection (the device sees EOF).
    void close_connection();
    bool connected() const { return conn_.valid(); }
    // Whether the device closed the connection within timeout_ms (EOF, or
    // ECONNRESET if it left a request unread).
    bool wait_peer_closed(int timeout_ms);

    // ---- Raw messages ----------------------------------------------------
    bool send_raw(std::span<const uint8_t> bytes, std::span<const int> fds = {});
    bool send(uint32_t request, std::span<const uint8_t> payload,
              std::span<const int> fds = {}, uint32_t flags = 0);
    std::optional<Reply> receive(int timeout_ms = 5000);

    // ---- Typed requests ----------------------------------------------------
    // A request with no payload whose reply is a u64 (GET_FEATURES, ...).
    std::optional<uint64_t> get_u64(vhost_user::Request request);
    bool set_u64(vhost_user::Request request, uint64_t value);
    bool set_owner();
    bool set_vring_state(vhost_user::Request request, uint32_t index, uint32_t num);
    std::optional<uint32_t> get_vring_base(uint32_t index);
    bool set_vring_addr(uint32_t index, const VringAddresses& addresses);
    // fd < 0 sends the "no fd" flag (vhost-user.rst, SET_VRING_KICK).
    bool set_vring_fd(vhost_user::Request request, uint32_t index, int fd);
    bool send_mem_table(const GuestMemoryFixture& mem);

    // Whether the last set-type request was acked with a non-zero status.
    bool last_ack_failed() const { return last_ack_failed_; }

    // ---- Sequences ---------------------------------------------------------
    // SET_OWNER, GET_FEATURES, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES,
    // GET_QUEUE_NUM (if MQ), SET_FEATURES: QEMU's order.  Stores what the
    // device offered.
    bool negotiate(uint64_t features, uint64_t protocol_features);
    // SET_VRING_NUM, SET_VRING_BASE(0), SET_VRING_ADDR, SET_VRING_CALL,
    // SET_VRING_KICK, and SET_VRING_ENABLE 1 if PROTOCOL_FEATURES was
    // negotiated.  call_fd/kick_fd < 0 send the "no fd" flag.
    bool setup_vring(uint32_t index, const SplitRingDriver& ring, int kick_fd,
                     int call_fd);
    // The same for a packed ring (VIRTIO_F_RING_PACKED negotiated):
    // SET_VRING_BASE carries avail index 0 with wrap counter 1 and the used
    // index and wrap counter the same (vhost-user.rst, PackedBase in
    // ring/packed_ring.h), SET_VRING_ADDR the descriptor ring and the driver
    // and device event areas (virtio 1.2, 2.8.10) in its desc, avail and
    // used fields.
    bool setup_vring(uint32_t index, const PackedRingDriver& ring, int kick_fd,
                     int call_fd);

    uint64_t offered_features() const { return offered_features_; }
    uint64_t offered_protocol_features() const { return offered_protocol_features_; }
    uint64_t queue_num() const { return queue_num_; }

private:
    bool setup_vring(uint32_t index, uint16_t num, uint32_t base,
                     const VringAddresses& addresses, int kick_fd, int call_fd);
    // Sends, and if REPLY_ACK is negotiated waits for the ack.
    bool send_set(uint32_t request, std::span<const uint8_t> payload,
                  std::span<const int> fds = {});
    bool wait_readable(int fd, int timeout_ms) const;

    std::string path_;
    UniqueFd listener_;
    UniqueFd conn_;
    uint64_t offered_features_ = 0;
    uint64_t offered_protocol_features_ = 0;
    uint64_t queue_num_ = 0;
    uint64_t features_ = 0;
    uint64_t protocol_features_ = 0;
    bool last_ack_failed_ = false;
};

}  // namespace nvh::test
