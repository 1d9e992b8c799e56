// SPDX-License-Identifier: Apache-2.0
// message_handler.cpp: see message_handler.h.
//
// RULE: never assume a field from the frontend is sensible.  Every value
// that arrives here has passed the codec's size, fd-count and index checks,
// but its meaning is still the frontend's word: features must have been
// offered, sizes must be valid ring sizes, addresses must lie in mapped
// memory, and each check below cites the rule it enforces.
#include "vhost_user/message_handler.h"

#include <cerrno>
#include <utility>

#include "base/eventfd.h"
#include "base/log.h"

namespace nvh {

using vhost_user::EncodedReply;
using vhost_user::Message;
using vhost_user::Request;
using Verdict = HandleOutcome::Verdict;

namespace {

HandleOutcome applied() { return {}; }
HandleOutcome applied_with(EncodedReply reply) {
    return {Verdict::kApplied, "", reply};
}
HandleOutcome fatal(const char* reason) { return {Verdict::kFatal, reason, {}}; }
HandleOutcome refused(const char* reason) {
    return {Verdict::kRefused, reason, {}};
}

// Holds a queue's access lock for a scope (the data path skips the queue).
class QueueLockGuard {
public:
    explicit QueueLockGuard(Virtqueue& vq) : vq_(vq) { vq_.access_lock().lock(); }
    ~QueueLockGuard() { vq_.access_lock().unlock(); }
    QueueLockGuard(const QueueLockGuard&) = delete;
    QueueLockGuard& operator=(const QueueLockGuard&) = delete;

private:
    Virtqueue& vq_;
};

}  // namespace

MessageHandler::MessageHandler(QueueArray& queues, uint32_t max_queue_pairs,
                               uint64_t offered_features, FaultFlag* fault_flag)
    : queues_(queues),
      max_queue_pairs_(max_queue_pairs),
      offered_features_(offered_features),
      fault_flag_(fault_flag) {}

MessageHandler::~MessageHandler() { reset(); }

void MessageHandler::reset() {
    for (uint32_t i = 0; i < NVH_MAX_VRINGS; i++) {
        QueueLockGuard guard(queues_[i]);
        queues_[i].reset();
    }
    // Only now, with no queue pointing into them, may the memory and the
    // dirty log go (Virtqueue::reset drops the queue's log).
    memory_.reset();
    log_.reset();
    memory_generation_++;
    setup_ = {};
    features_ = 0;
    protocol_features_ = 0;
    protocol_features_set_ = false;
    features_set_ = false;
    mtu_ = 0;
    status_ = 0;
    announce_mac_ = 0;
}

HandleOutcome MessageHandler::handle(Message& message) {
    HandleOutcome outcome = dispatch(message);

    // vhost-user.rst, "REPLY_ACK": when negotiated and need_reply is set, a
    // request without a reply of its own is answered with a u64: zero on
    // success, non-zero on failure.  "For the message types that already
    // solicit a reply ... need_reply bit being set brings no behavioural
    // change": the GET_* requests and SET_LOG_BASE (with LOG_SHMFD) reply
    // when applied; refused, they get the failure status instead.
    bool ack_negotiated =
        virtio::has(protocol_features_, vhost_user::kProtocolFReplyAck);
    if (ack_negotiated && message.need_reply() && !outcome.reply) {
        uint64_t status = outcome.verdict == Verdict::kApplied ? 0 : 1;
        outcome.reply = vhost_user::encode_u64_reply(message.request, status);
    }
    return outcome;
}

// One case per request this backend serves, grouped as vhost-user.rst
// lists them; the rules each one enforces are in its handler.
HandleOutcome MessageHandler::dispatch(Message& message) {
    auto& payload = message.payload;
    switch (message.known_request()) {
    // The connection: ownership, features, memory and the dirty log.
    case Request::kSetOwner:
        return set_owner();
    case Request::kResetOwner:
        return reset_owner();
    case Request::kGetFeatures:
        return applied_with(
            vhost_user::encode_u64_reply(message.request, offered_features_));
    case Request::kSetFeatures:
        return set_features(std::get<uint64_t>(payload));
    case Request::kGetProtocolFeatures:
        return get_protocol_features(message.request);
    case Request::kSetProtocolFeatures:
        return set_protocol_features(std::get<uint64_t>(payload));
    case Request::kGetQueueNum:
        return get_queue_num(message.request);
    case Request::kSetMemTable:
        return set_mem_table(std::get<vhost_user::MemoryTablePayload>(payload));
    case Request::kSetLogBase:
        return set_log_base(message.request,
                            std::get<vhost_user::LogBasePayload>(payload));
    case Request::kSetLogFd:
        return set_log_fd();
    // One vring.
    case Request::kSetVringNum:
        return set_vring_num(std::get<vhost_user::VringState>(payload));
    case Request::kSetVringAddr:
        return set_vring_addr(std::get<vhost_user::VringAddressPayload>(payload));
    case Request::kSetVringBase:
        return set_vring_base(std::get<vhost_user::VringState>(payload));
    case Request::kGetVringBase:
        return get_vring_base(message.request,
                              std::get<vhost_user::VringState>(payload));
    case Request::kSetVringKick:
    case Request::kSetVringCall:
    case Request::kSetVringErr:
        return set_vring_fd(message.known_request(),
                            std::get<vhost_user::VringFdPayload>(payload));
    case Request::kSetVringEnable:
        return set_vring_enable(std::get<vhost_user::VringState>(payload));
    // The net device and its status.
    case Request::kSendRarp:
        return send_rarp(std::get<uint64_t>(payload));
    case Request::kNetSetMtu:
        return net_set_mtu(std::get<uint64_t>(payload));
    case Request::kSetStatus:
        return set_status(std::get<uint64_t>(payload));
    case Request::kGetStatus:
        return get_status(message.request);
    default:
        return refuse_unsupported(message.request);
    }
}

HandleOutcome MessageHandler::refuse_unsupported(uint32_t request) {
    // An unknown code or one whose protocol feature was never offered
    // (vhost-user.rst: such requests are only sent once negotiated).
    uint32_t slot = request < 64 ? request : 63;
    if (!unsupported_logged_[slot]) {
        unsupported_logged_[slot] = true;
        log_message(NVH_LOG_WARN, "refusing unsupported vhost-user request %u (%s)",
                    request, vhost_user::request_name(request));
    }
    return refused("unsupported request");
}

HandleOutcome MessageHandler::set_owner() {
    // vhost-user.rst, VHOST_USER_SET_OWNER: marks the session's owner;
    // this backend serves one frontend per socket, nothing to record.
    return applied();
}

HandleOutcome MessageHandler::reset_owner() {
    // vhost-user.rst, VHOST_USER_RESET_OWNER (deprecated): treated as a
    // reset of everything the frontend configured.
    reset();
    return applied();
}

HandleOutcome MessageHandler::get_protocol_features(uint32_t request) {
    // vhost-user.rst, VHOST_USER_GET_PROTOCOL_FEATURES: valid because
    // VHOST_USER_F_PROTOCOL_FEATURES is always offered.
    return applied_with(
        vhost_user::encode_u64_reply(request, kOfferedProtocolFeatures));
}

HandleOutcome MessageHandler::get_queue_num(uint32_t request) {
    // vhost-user.rst, VHOST_USER_GET_QUEUE_NUM: the most queues (pairs,
    // for a net device) the backend supports.
    return applied_with(vhost_user::encode_u64_reply(request, max_queue_pairs_));
}

HandleOutcome MessageHandler::set_log_fd() {
    // vhost-user.rst, VHOST_USER_SET_LOG_FD: an eventfd to signal once
    // log writes are done.  This backend sets each bit right after the
    // write it records, so there is never anything to signal; the fd is
    // closed here (as DPDK's vhost library does).
    return applied();
}

HandleOutcome MessageHandler::get_status(uint32_t request) {
    // vhost-user.rst, VHOST_USER_GET_STATUS: only with
    // VHOST_USER_PROTOCOL_F_STATUS; replies with the status byte.
    if (!protocol_negotiated(vhost_user::kProtocolFStatus)) {
        return refuse_unsupported(request);
    }
    return applied_with(vhost_user::encode_u64_reply(request, status_));
}

HandleOutcome MessageHandler::set_features(uint64_t features) {
    // vhost-user.rst, VHOST_USER_SET_FEATURES / virtio 1.2, 3.1.1: the
    // driver accepts only a subset of the features the device offered.
    if ((features & ~offered_features_) != 0) {
        return fatal("SET_FEATURES with features that were not offered");
    }
    // virtio 1.2, 3.1.1: features are fixed once the device is live; the
    // data path of a started ring depends on them.  Except VHOST_F_LOG_ALL:
    // vhost-user.rst, "Migration": the frontend sets it on a running device
    // to start dirty logging and clears it when the migration ends.
    const uint64_t changed = (features ^ features_) & ~virtio::bit(virtio::kFLogAll);
    for (uint32_t i = 0; i < vring_count(); i++) {
        if (queues_[i].started() && changed != 0) {
            return fatal("SET_FEATURES changed features of a started ring");
        }
    }
    const bool was_logging = dirty_logging();
    features_ = features;
    features_set_ = true;
    if (dirty_logging() != was_logging) {
        apply_dirty_log();
        log_message(NVH_LOG_INFO, "dirty page logging %s",
                    dirty_logging() ? "started" : "stopped");
    }
    if (!protocol_features_negotiated()) {
        // vhost-user.rst, "Ring states": without PROTOCOL_FEATURES a ring
        // is enabled as soon as it exists.
        for (uint32_t i = 0; i < vring_count(); i++) {
            QueueLockGuard guard(queues_[i]);
            queues_[i].set_enabled(true);
        }
    }
    return applied();
}

HandleOutcome MessageHandler::set_protocol_features(uint64_t features) {
    // vhost-user.rst, VHOST_USER_SET_PROTOCOL_FEATURES: only a subset of
    // what GET_PROTOCOL_FEATURES returned.
    if ((features & ~kOfferedProtocolFeatures) != 0) {
        return fatal("SET_PROTOCOL_FEATURES with features that were not offered");
    }
    protocol_features_ = features;
    protocol_features_set_ = true;
    return applied();
}

HandleOutcome MessageHandler::set_mem_table(vhost_user::MemoryTablePayload& table) {
    // GuestMemory::create validates every region (vhost-user.rst, "Memory
    // regions description": sizes, overflow, overlap, fd size) before
    // mapping; on failure every fd is closed.
    Result<GuestMemory> created = GuestMemory::create(
        table.regions.data(), table.fds.data(), table.count, max_guest_memory(), fault_flag_);
    if (!created) {
        log_message(NVH_LOG_WARN, "SET_MEM_TABLE refused: %s",
                    created.error().what);
        // The operator can raise the bound (nvh.h, max_guest_memory): say so.
        return fatal(created.error().errno_value == E2BIG
                         ? "memory table larger than max-guest-memory-mb"
                         : "SET_MEM_TABLE with an invalid region");
    }
    auto next = std::make_unique<GuestMemory>(std::move(created).value());

    // vhost-user.rst, VHOST_USER_SET_MEM_TABLE may replace a live table:
    // stop every ring (no burst can run while its lock is held), swap, then
    // restart the rings that were running on the new table.
    const uint32_t n = vring_count();
    std::array<bool, NVH_MAX_VRINGS> was_started{};
    for (uint32_t i = 0; i < n; i++) {
        queues_[i].access_lock().lock();
        was_started[i] = queues_[i].started();
        queues_[i].stop();
    }
    std::unique_ptr<GuestMemory> previous = std::exchange(memory_, std::move(next));
    memory_generation_++;
    const char* failure = nullptr;
    for (uint32_t i = 0; i < n; i++) {
        if (!was_started[i]) {
            continue;
        }
        Status restarted = queues_[i].start(*memory_, features_);
        if (!restarted) {
            log_message(NVH_LOG_WARN, "vring %u cannot restart: %s", i,
                        restarted.error().what);
            failure = "ring not inside the new memory table";
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        queues_[i].access_lock().unlock();
    }
    previous.reset();   // Unmapped only after no queue can reach it.
    return failure ? fatal(failure) : applied();
}

HandleOutcome MessageHandler::set_log_base(uint32_t request,
                                           vhost_user::LogBasePayload& payload) {
    // vhost-user.rst, VHOST_USER_SET_LOG_BASE: with
    // VHOST_USER_PROTOCOL_F_LOG_SHMFD the log is shared memory, the fd in
    // the message, its size and offset in the payload ("Log description").
    if (!protocol_negotiated(vhost_user::kProtocolFLogShmfd)) {
        return refused("SET_LOG_BASE without VHOST_USER_PROTOCOL_F_LOG_SHMFD");
    }
    // DirtyLog::map refuses a size of 0 or larger than a guest of at most
    // max_guest_memory() bytes needs, an overflowing offset and an fd
    // shorter than offset + size.  A log that cannot be written would let a
    // migration copy stale pages, so the connection is closed instead.
    Result<DirtyLog> mapped =
        DirtyLog::map(std::move(payload.fd), payload.mmap_size, payload.mmap_offset,
                      DirtyLog::max_size_for(max_guest_memory()), fault_flag_);
    if (!mapped) {
        log_message(NVH_LOG_WARN, "SET_LOG_BASE refused: %s", mapped.error().what);
        return fatal("SET_LOG_BASE with an invalid log");
    }
    std::unique_ptr<DirtyLog> previous =
        std::exchange(log_, std::make_unique<DirtyLog>(std::move(mapped).value()));
    apply_dirty_log();
    previous.reset();   // Unmapped only after no queue can reach it.
    log_message(NVH_LOG_INFO, "dirty log of %llu bytes shared",
                static_cast<unsigned long long>(log_->size()));
    // QEMU waits for a reply without payload once LOG_SHMFD is negotiated
    // (hw/virtio/vhost-user.c, vhost_user_set_log_base); DPDK's vhost
    // library sends the same.
    return applied_with(vhost_user::encode_empty_reply(request));
}

void MessageHandler::apply_dirty_log() {
    const DirtyLog* active = dirty_logging() ? log_.get() : nullptr;
    for (uint32_t i = 0; i < NVH_MAX_VRINGS; i++) {
        QueueLockGuard guard(queues_[i]);
        queues_[i].set_dirty_log(active);
    }
}

Status MessageHandler::start_if_complete(uint32_t index) {
    Virtqueue& vq = queues_[index];
    // vhost-user.rst, "Ring states": a ring starts on SET_VRING_KICK; it
    // also needs a size, addresses and a memory table to be processed.
    if (vq.started() || !setup_[index].kick_received ||
        !setup_[index].addresses_set || vq.size() == 0 || !memory_) {
        return Status::Ok();
    }
    Status started = vq.start(*memory_, features_);
    if (!started) {
        log_message(NVH_LOG_WARN, "vring %u cannot start: %s", index,
                    started.error().what);
        return started;
    }
    if (!protocol_features_negotiated()) {
        // vhost-user.rst, "Ring states": without PROTOCOL_FEATURES the ring
        // starts directly in the enabled state.
        vq.set_enabled(true);
    }
    return Status::Ok();
}

HandleOutcome MessageHandler::set_vring_num(const vhost_user::VringState& state) {
    Virtqueue& vq = queues_[state.index];
    QueueLockGuard guard(vq);
    vq.stop();
    // virtio 1.2, 2.7: queue size is a power of 2, at most 32768.
    if (!vq.set_num(state.num)) {
        return fatal("SET_VRING_NUM with an invalid queue size");
    }
    if (!start_if_complete(state.index)) {
        return fatal("ring not inside guest memory");
    }
    return applied();
}

HandleOutcome MessageHandler::set_vring_addr(
    const vhost_user::VringAddressPayload& addr) {
    // vhost-user.rst, "Vring address description": flag bit 0
    // (VHOST_VRING_F_LOG) asks for used-ring writes to be logged at
    // log_guest_addr; no other flag is defined.  The data path logs every
    // write by the guest-physical address the memory table gives for it,
    // which for the used ring is log_guest_addr (no IOMMU:
    // VIRTIO_F_ACCESS_PLATFORM is not offered), and which also covers the
    // packed ring's descriptor writes that log_guest_addr does not describe.
    if ((addr.addresses.flags & ~kVringFLog) != 0) {
        return fatal("SET_VRING_ADDR with unknown flags");
    }
    Virtqueue& vq = queues_[addr.index];
    QueueLockGuard guard(vq);
    // vhost-user.rst, "Migration": a frontend sends a running ring's
    // addresses again with VHOST_VRING_F_LOG set when logging starts, and
    // cleared when it ends.  Same ring: nothing to stop, so the data path
    // does not see the queue go away and come back.
    if (vq.started() && vq.same_rings(addr.addresses)) {
        vq.set_addresses(addr.addresses);
        return applied();
    }
    vq.stop();
    vq.set_addresses(addr.addresses);
    setup_[addr.index].addresses_set = true;
    if (!start_if_complete(addr.index)) {
        return fatal("ring not inside guest memory");
    }
    return applied();
}

HandleOutcome MessageHandler::set_vring_base(const vhost_user::VringState& state) {
    // vhost-user.rst, "A vring descriptor index for split virtqueues": only
    // bits 0-15 are used, bits 16-31 are reserved.  For packed virtqueues
    // all 32 bits carry avail and used positions (checked at ring start,
    // Virtqueue::start).
    if (!virtio::has(features_, virtio::kFRingPacked) && state.num > 0xffff) {
        return fatal("SET_VRING_BASE with reserved bits set");
    }
    Virtqueue& vq = queues_[state.index];
    QueueLockGuard guard(vq);
    vq.stop();
    vq.set_base(state.num);
    if (!start_if_complete(state.index)) {
        return fatal("ring not inside guest memory");
    }
    return applied();
}

HandleOutcome MessageHandler::get_vring_base(uint32_t request,
                                             const vhost_user::VringState& state) {
    // vhost-user.rst, VHOST_USER_GET_VRING_BASE: stops the ring and returns
    // the next available index the backend would process.
    Virtqueue& vq = queues_[state.index];
    QueueLockGuard guard(vq);
    vq.stop();
    setup_[state.index].kick_received = false;
    vhost_user::VringState reply{state.index, vq.base()};
    return applied_with(vhost_user::encode_vring_state_reply(request, reply));
}

HandleOutcome MessageHandler::set_vring_fd(Request request,
                                           vhost_user::VringFdPayload& payload) {
    // vhost-user.rst, VHOST_USER_SET_VRING_KICK/_CALL/_ERR: the fd is an
    // eventfd.  Anything else could block the control thread or raise
    // SIGPIPE (base/eventfd.h); the "no fd" flag stays allowed.
    if (!payload.no_fd) {
        if (Status is_eventfd = require_eventfd(payload.fd.get()); !is_eventfd) {
            return fatal(is_eventfd.error().what);
        }
    }
    Virtqueue& vq = queues_[payload.index];
    QueueLockGuard guard(vq);
    switch (request) {
    case Request::kSetVringKick:
        // vhost-user.rst, VHOST_USER_SET_VRING_KICK: starts the ring; with
        // the no-fd flag the backend polls instead of waiting for kicks.
        vq.stop();
        vq.set_kick_fd(std::move(payload.fd));
        setup_[payload.index].kick_received = true;
        if (!start_if_complete(payload.index)) {
            return fatal("ring not inside guest memory");
        }
        return applied();
    case Request::kSetVringCall:
        // May change on a running ring (interrupt masking): no stop needed,
        // the data path cannot run while the lock is held.
        vq.set_call_fd(std::move(payload.fd));
        return applied();
    default:
        vq.set_err_fd(std::move(payload.fd));
        return applied();
    }
}

HandleOutcome MessageHandler::set_vring_enable(const vhost_user::VringState& state) {
    // vhost-user.rst, VHOST_USER_SET_VRING_ENABLE: only sent once
    // PROTOCOL_FEATURES is negotiated (see protocol_features_negotiated());
    // num is 0 (disable) or 1 (enable).
    if (!protocol_features_negotiated()) {
        return refused("SET_VRING_ENABLE without PROTOCOL_FEATURES");
    }
    if (state.num > 1) {
        return fatal("SET_VRING_ENABLE with a value other than 0 or 1");
    }
    Virtqueue& vq = queues_[state.index];
    QueueLockGuard guard(vq);
    vq.set_enabled(state.num == 1);
    return applied();
}

HandleOutcome MessageHandler::send_rarp(uint64_t payload) {
    // vhost-user.rst, VHOST_USER_SEND_RARP: only with
    // VHOST_USER_PROTOCOL_F_RARP; the first 6 bytes of the u64 are the
    // guest's MAC address, and the backend broadcasts a RARP for it.
    if (!protocol_negotiated(vhost_user::kProtocolFRarp)) {
        return refused("SEND_RARP without VHOST_USER_PROTOCOL_F_RARP");
    }
    uint64_t mac = payload & 0xffffffffffffULL;
    uint8_t b[6];
    for (int i = 0; i < 6; i++) {
        b[i] = static_cast<uint8_t>(mac >> (8 * i));
    }
    // An all-zero MAC is not an address (IEEE 802: the broadcast RARP
    // would announce nothing); a multicast one cannot be a station's.
    if (mac == 0 || (b[0] & 1) != 0) {
        return refused("SEND_RARP with a zero or multicast MAC");
    }
    log_message(NVH_LOG_INFO,
                "announce requested with MAC %02x:%02x:%02x:%02x:%02x:%02x",
                b[0], b[1], b[2], b[3], b[4], b[5]);
    announce_mac_ = mac;
    return applied();
}

HandleOutcome MessageHandler::net_set_mtu(uint64_t mtu) {
    // vhost-user.rst, VHOST_USER_NET_SET_MTU: only with
    // VHOST_USER_PROTOCOL_F_NET_MTU.  virtio 1.2, 5.1.4.1: the MTU a device
    // reports is between 68 and 65535.
    if (!protocol_negotiated(vhost_user::kProtocolFNetMtu)) {
        return refused("NET_SET_MTU without VHOST_USER_PROTOCOL_F_NET_MTU");
    }
    if (mtu < 68 || mtu > 65535) {
        return refused("NET_SET_MTU outside 68..65535");
    }
    mtu_ = static_cast<uint32_t>(mtu);
    return applied();
}

HandleOutcome MessageHandler::set_status(uint64_t status) {
    // vhost-user.rst, VHOST_USER_SET_STATUS: only with
    // VHOST_USER_PROTOCOL_F_STATUS; the u64 carries the device status byte
    // (virtio 1.2, 2.1), so the upper bits must be zero.
    if (!protocol_negotiated(vhost_user::kProtocolFStatus)) {
        return refused("SET_STATUS without VHOST_USER_PROTOCOL_F_STATUS");
    }
    if (status > 0xff) {
        return refused("SET_STATUS with bits above the status byte");
    }
    // virtio 1.2, 2.1: 0 resets the device status.  The rings are kept:
    // frontends reset the status before GET_VRING_BASE, which must still
    // return the rings' indexes.  Without DRIVER_OK nothing is served.
    if ((status & kStatusFailed) != 0 && (status_ & kStatusFailed) == 0) {
        log_message(NVH_LOG_WARN, "the driver set the FAILED status bit");
    }
    status_ = static_cast<uint8_t>(status);
    return applied();
}

}  // namespace nvh
