// SPDX-License-Identifier: Apache-2.0
// message_handler.h: applies one decoded vhost-user request to the device's
// virtqueues and guest memory; the place where the protocol's rules are
// enforced.  Runs on the control thread only.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <utility>

#include "memory/dirty_log.h"
#include "memory/guest_memory.h"
#include "netdev-vhost/nvh.h"
#include "vhost_user/state_record.h"
#include "vhost_user/vhost_user_message.h"
#include "base/virtio_spec.h"
#include "ring/virtqueue.h"

namespace nvh {

// The virtio features this backend always offers (GET_FEATURES); a device
// created with offloads adds kOffloadFeatures (net_header.h).  A device's
// set is fixed when it is created, so it is identical across restarts and
// reconnects: a frontend refuses to resume a guest whose backend offers
// different features.
//
// VIRTIO_NET_F_MQ: up to max_queue_pairs pairs (GET_QUEUE_NUM).  The control
// virtqueue that MQ needs (virtio 1.2, 5.1.3.1) is the frontend's: QEMU
// emulates it and leaves VIRTIO_NET_F_CTRL_VQ out of what it asks the
// backend, DPDK's virtio_user emulates it too, so it is not offered here.
// VIRTIO_NET_F_MTU: the frontend reports the MTU it gives the guest
// (NET_SET_MTU).  VIRTIO_NET_F_GUEST_ANNOUNCE: the guest announces itself
// after migration; otherwise the frontend asks for a RARP (SEND_RARP).
// VIRTIO_F_IN_ORDER (virtio 1.2, 2.6 and 2.7.9): the data path always uses
// buffers in the order they were made available (bursts walk the ring in
// order and return every chain they take, dropped ones too, in that order),
// so a driver may rely on it.
// VHOST_F_LOG_ALL: the data path records its writes to guest memory in the
// frontend's dirty log while the frontend asks for it (live migration,
// dirty_log.h).
inline constexpr uint64_t kOfferedFeatures =
    virtio::bit(virtio::kFVersion1) | virtio::bit(virtio::kNetFMrgRxbuf) |
    virtio::bit(virtio::kFLogAll) |
    virtio::bit(virtio::kFProtocolFeatures) | virtio::bit(virtio::kNetFMq) |
    virtio::bit(virtio::kNetFMtu) | virtio::bit(virtio::kNetFGuestAnnounce) |
    virtio::bit(virtio::kFEventIdx) | virtio::bit(virtio::kFIndirectDesc) |
    virtio::bit(virtio::kFRingPacked) | virtio::bit(virtio::kFInOrder);

// The vhost-user protocol features offered (GET_PROTOCOL_FEATURES).
// LOG_SHMFD: the dirty log comes as shared memory (SET_LOG_BASE with an
// fd), the only form a user-space backend can write.  CONFIG is not
// offered: virtio-net's config space is the frontend's.
inline constexpr uint64_t kOfferedProtocolFeatures =
    virtio::bit(vhost_user::kProtocolFMq) |
    virtio::bit(vhost_user::kProtocolFLogShmfd) |
    virtio::bit(vhost_user::kProtocolFReplyAck) |
    virtio::bit(vhost_user::kProtocolFRarp) |
    virtio::bit(vhost_user::kProtocolFNetMtu) |
    virtio::bit(vhost_user::kProtocolFStatus);

// SET_VRING_ADDR flag (vhost-user.rst, "Vring address description"):
// VHOST_VRING_F_LOG, log the used ring's writes.
inline constexpr uint32_t kVringFLog = 1u << 0;

// Device status bits (virtio 1.2, 2.1).
inline constexpr uint8_t kStatusDriverOk = 4;
inline constexpr uint8_t kStatusFailed = 128;

// What became of one message.
struct HandleOutcome {
    enum class Verdict {
        kApplied,   // Done.
        kRefused,   // Not done, connection stays (unsupported request).
        kFatal,     // Broke a rule: the connection must be closed.
    };
    Verdict verdict = Verdict::kApplied;
    const char* reason = "";                   // For kRefused and kFatal.
    std::optional<vhost_user::EncodedReply> reply;   // To send, if any.
};

class MessageHandler {
public:
    using QueueArray = std::array<Virtqueue, NVH_MAX_VRINGS>;

    // `queues` outlive the handler; vrings >= 2 * max_queue_pairs are unused.
    // `offered_features` answer GET_FEATURES (kOfferedFeatures, plus
    // kOffloadFeatures for a device with offloads).  A SIGBUS in the guest
    // memory or dirty log it maps sets *fault_flag (memory/fault_guard.h),
    // which outlives the handler's mappings.
    MessageHandler(QueueArray& queues, uint32_t max_queue_pairs,
                   uint64_t offered_features = kOfferedFeatures,
                   FaultFlag* fault_flag = nullptr);
    ~MessageHandler();
    MessageHandler(const MessageHandler&) = delete;
    MessageHandler& operator=(const MessageHandler&) = delete;

    // Applies `message`, producing the reply the frontend expects (its own
    // reply, or the REPLY_ACK status when it asked for one).
    HandleOutcome handle(vhost_user::Message& message);

    // Writes the connection's state as the requests that rebuild it
    // (vhost_user/state_record.h), with copies of its fds, for a planned
    // restart.  The queues must be quiet (no burst running).  Fails while a
    // migration logs dirty pages (the log is not handed over).
    Status write_state(vhost_user::StateWriter& writer) const;

    // Forgets the connection: locks and resets every queue, unmaps the guest
    // memory and drops the negotiated features.
    void reset();

    vhost_user::DecodeLimits decode_limits() const { return {vring_count()}; }
    uint32_t vring_count() const { return 2 * max_queue_pairs_; }
    uint64_t features() const { return features_; }
    uint64_t offered_features() const { return offered_features_; }
    // The most guest memory (the regions of one memory table) the device
    // maps; the dirty log is bounded by what such a guest needs
    // (DirtyLog::max_size_for).  Takes effect at the next SET_MEM_TABLE or
    // SET_LOG_BASE.  Set from any thread.
    void set_max_guest_memory(uint64_t bytes) {
        max_guest_memory_.store(bytes ? bytes : kDefaultMaxGuestMemory, std::memory_order_relaxed);
    }
    uint64_t max_guest_memory() const { return max_guest_memory_.load(std::memory_order_relaxed); }
    uint64_t protocol_features() const { return protocol_features_; }
    // The current memory table, or nullptr.
    const GuestMemory* memory() const { return memory_.get(); }
    // Changes whenever memory() is replaced or dropped.
    uint64_t memory_generation() const { return memory_generation_; }
    // Whether the data path records its writes in a dirty log (the frontend
    // negotiated VHOST_F_LOG_ALL and shared a log): a migration is running.
    bool dirty_logging() const {
        return log_ != nullptr && virtio::has(features_, virtio::kFLogAll);
    }
    // The MTU of NET_SET_MTU, or 0.
    uint32_t mtu() const { return mtu_; }
    // Whether the driver may be served: always, unless STATUS is negotiated
    // and the frontend has not set DRIVER_OK (vhost-user.rst,
    // VHOST_USER_PROTOCOL_F_STATUS; virtio 1.2, 3.1.1).
    bool driver_ok() const {
        return !virtio::has(protocol_features_, vhost_user::kProtocolFStatus) ||
               (status_ & kStatusDriverOk) != 0;
    }
    // The MAC of the last SEND_RARP not yet taken (48 bits, first byte in
    // the lowest), or 0.
    uint64_t take_announce() { return std::exchange(announce_mac_, 0); }

private:
    // Control-plane facts about one vring that Virtqueue does not keep.
    struct RingSetup {
        bool addresses_set = false;
        bool kick_received = false;   // Started by SET_VRING_KICK; cleared by
                                      // GET_VRING_BASE (ring stopped).
    };

    HandleOutcome dispatch(vhost_user::Message& message);
    // Refuses a request this backend does not serve, logging each code once.
    HandleOutcome refuse_unsupported(uint32_t request);
    HandleOutcome set_owner();
    HandleOutcome reset_owner();
    HandleOutcome get_protocol_features(uint32_t request);
    HandleOutcome get_queue_num(uint32_t request);
    HandleOutcome set_log_fd();
    HandleOutcome get_status(uint32_t request);
    HandleOutcome set_features(uint64_t features);
    HandleOutcome set_protocol_features(uint64_t features);
    HandleOutcome set_mem_table(vhost_user::MemoryTablePayload& table);
    HandleOutcome set_vring_num(const vhost_user::VringState& state);
    HandleOutcome set_vring_addr(const vhost_user::VringAddressPayload& addr);
    HandleOutcome set_vring_base(const vhost_user::VringState& state);
    HandleOutcome get_vring_base(uint32_t request,
                                 const vhost_user::VringState& state);
    HandleOutcome set_vring_fd(vhost_user::Request request,
                               vhost_user::VringFdPayload& payload);
    HandleOutcome set_vring_enable(const vhost_user::VringState& state);
    HandleOutcome set_log_base(uint32_t request, vhost_user::LogBasePayload& payload);
    HandleOutcome send_rarp(uint64_t payload);
    HandleOutcome net_set_mtu(uint64_t mtu);
    HandleOutcome set_status(uint64_t status);
    bool protocol_negotiated(unsigned bit) const {
        return virtio::has(protocol_features_, bit);
    }

    // Points every queue at the dirty log while logging is on (see
    // dirty_logging()), at none otherwise.  Takes each queue's lock.
    void apply_dirty_log();
    // Starts queue `index` if it has everything a started ring needs.
    // Caller holds its access lock.  Fails if the rings are not mapped.
    Status start_if_complete(uint32_t index);
    // vhost-user.rst, "Ring states" ties the ring enable rules to
    // VHOST_USER_F_PROTOCOL_FEATURES being negotiated.  Frontends differ in
    // how they say so: DPDK's virtio_user acks the bit in SET_FEATURES, while
    // QEMU 7.x negotiates protocol features (GET/SET_PROTOCOL_FEATURES) and
    // then sends SET_VRING_ENABLE, but leaves the bit out of SET_FEATURES.
    // Either counts, as it does for DPDK's vhost library.
    bool protocol_features_negotiated() const {
        return virtio::has(features_, virtio::kFProtocolFeatures) ||
               protocol_features_set_;
    }

    QueueArray& queues_;
    const uint32_t max_queue_pairs_;
    const uint64_t offered_features_;
    std::atomic<uint64_t> max_guest_memory_{kDefaultMaxGuestMemory};
    FaultFlag* const fault_flag_;   // Passed to every mapping; may be null.
    std::array<RingSetup, NVH_MAX_VRINGS> setup_{};
    uint64_t features_ = 0;
    uint64_t protocol_features_ = 0;
    bool protocol_features_set_ = false;   // SET_PROTOCOL_FEATURES received.
    bool features_set_ = false;            // SET_FEATURES received.
    // Heap-held so the queues' pointers into it survive a table swap.
    std::unique_ptr<GuestMemory> memory_;
    uint64_t memory_generation_ = 0;
    // The frontend's dirty log (SET_LOG_BASE), heap-held like memory_.
    std::unique_ptr<DirtyLog> log_;
    uint32_t mtu_ = 0;
    uint8_t status_ = 0;
    uint64_t announce_mac_ = 0;
    bool unsupported_logged_[64] = {};   // Log each unknown request once.
};

}  // namespace nvh
