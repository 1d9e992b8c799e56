// SPDX-License-Identifier: Apache-2.0
// device.cpp: see device.h.
#include "device/device.h"

#include <numaif.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "device/announce.h"
#include "base/log.h"
#include "net/net_header.h"
#include "net/virtio_net.h"

namespace nvh {
namespace {

// Holds a queue's access lock taken with try_lock, for one burst.
class BurstLock {
public:
    explicit BurstLock(Virtqueue& vq) : vq_(vq), held_(vq.access_lock().try_lock()) {}
    ~BurstLock() {
        if (held_) {
            vq_.count_if_broken();
            vq_.access_lock().unlock();
        }
    }
    BurstLock(const BurstLock&) = delete;
    BurstLock& operator=(const BurstLock&) = delete;
    bool held() const { return held_; }

private:
    Virtqueue& vq_;
    bool held_;
};

int numa_node_of(const GuestMemory* memory) {
    if (!memory || memory->region_count() == 0) {
        return -1;
    }
    int node = -1;
    if (get_mempolicy(&node, nullptr, 0, memory->region(0).host_base(),
                      MPOL_F_NODE | MPOL_F_ADDR) != 0) {
        return -1;
    }
    return node;
}

}  // namespace

const char kMemoryNotSharedWarning[] =
    "guest memory not shared: start QEMU with share=on on the guest memory "
    "backend";

const char kFeaturesRefusedWarning[] =
    "the frontend hangs up after reading the features: the guest may use one "
    "this backend does not offer";

const char kMemoryFaultReason[] =
    "guest memory faulted (SIGBUS): region truncated, hole punched or out of "
    "space";

bool same_observable_state(const nvh_device_info& a, const nvh_device_info& b) {
    // VHOST_F_LOG_ALL comes and goes during a migration: nothing the glue
    // reconfigures depends on it (status reads the latest features anyway).
    const uint64_t log_all = virtio::bit(virtio::kFLogAll);
    return a.state == b.state && (a.features & ~log_all) == (b.features & ~log_all) &&
           a.numa_node == b.numa_node &&
           a.protocol_features == b.protocol_features &&
           a.n_vrings == b.n_vrings && a.n_queue_pairs == b.n_queue_pairs &&
           std::strcmp(a.warning, b.warning) == 0 &&
           a.mtu == b.mtu &&
           std::memcmp(a.vring_enabled, b.vring_enabled,
                       sizeof a.vring_enabled) == 0 &&
           std::memcmp(a.vring_size, b.vring_size, sizeof a.vring_size) == 0;
}

Result<std::unique_ptr<Device>> Device::create(const nvh_device_config& config) {
    if (!config.socket_path || config.socket_path[0] == '\0') {
        return Error{EINVAL, "socket_path is empty"};
    }
    if (std::strlen(config.socket_path) > NVH_MAX_SOCKET_PATH) {
        return Error{EINVAL, "socket_path is longer than 107 bytes"};
    }
    uint32_t max_queue_pairs = config.max_queue_pairs ? config.max_queue_pairs : 1;
    if (max_queue_pairs > NVH_MAX_QUEUE_PAIRS) {
        return Error{EINVAL, "max_queue_pairs is larger than 16"};
    }
    Result<Notifier*> notifier = Notifier::acquire();
    if (!notifier) {
        return notifier.error();
    }
    Result<ControlThread*> control = ControlThread::acquire();
    if (!control) {
        Notifier::release();
        return control.error();
    }
    std::unique_ptr<Device> device(new Device(config, max_queue_pairs));
    device->attach_notifier(notifier.value());
    device->control_ = control.value();
    device->kicks_.attach(device->control_, device->log_);
    Device* raw = device.get();
    const std::string keeper = config.handover_socket ? config.handover_socket : "";
    device->control_->run_sync([raw, &keeper] {
        DeviceLogScope scope(raw->log_);
        if (keeper.empty() || !raw->resume_from_keeper(keeper)) {
            raw->try_connect();
        }
    });
    return device;
}

Device::Device(const nvh_device_config& config, uint32_t max_queue_pairs)
    : socket_path_(config.socket_path),
      max_queue_pairs_(max_queue_pairs),
      state_changed_(config.state_changed),
      aux_(config.aux),
      large_buffer_(config.large_buffer),
      log_{config.log, config.aux},
      offered_features_(device_offered_features(config.offloads)) {
    handler_.set_max_guest_memory(config.max_guest_memory);
    std::lock_guard<std::mutex> guard(info_mutex_);
    fill_info(&info_);
}

Device::~Device() {
    if (!control_) {
        return;
    }
    if (control_->on_control_thread()) {
        // nvh.h: state_changed must not call back into the core.  Destroying
        // the device from there cannot be handled: the control thread is
        // inside this device's publish() and would go on using it after the
        // caller frees it, and waiting for the control thread from itself
        // would never return.  Fail loudly instead of corrupting memory.
        log_message(NVH_LOG_ERR, "%s: nvh_device_destroy called from the "
                    "device's state_changed callback, which nvh.h forbids; "
                    "aborting", socket_path_.c_str());
        std::abort();
    }
    // Runs between two events of the control thread, so no callback of
    // this device is in progress; afterwards the thread cannot reach it.
    control_->run_sync([this] {
        detached_ = true;
        control_->cancel_timer(this);
        control_->paths().remove(this);
        kicks_.unwatch_all();   // Before the reset closes the kick fds.
        control_->unwatch(session_.fd());
        session_.close();
        handler_.reset();
    });
    ControlThread::release();
    // Waits at most for a write in progress on one of our call fds, which
    // kCallWriteBound ends; afterwards the notifier no longer reaches us.
    notifier_->remove(this);
    Notifier::release();
}

void Device::attach_notifier(Notifier* notifier) {
    notifier_ = notifier;
    for (uint32_t v = 0; v < 2 * max_queue_pairs_; v++) {
        queues_[v].guest_call().set_doorbell(notifier->doorbell());
        notifier->add(this, &queues_[v].guest_call(), socket_path_.c_str(), v);
    }
}

void Device::try_connect() {
    if (detached_ || session_.connected()) {
        return;
    }
    Status connected = session_.connect(socket_path_.c_str());
    if (connected) {
        connected = control_->watch(session_.fd(), this);
        if (!connected) {
            session_.close();
        }
    }
    if (!connected) {
        int err = connected.error().errno_value;
        // ENOENT (no socket yet), ECONNREFUSED (nobody listening) and EAGAIN
        // (backlog full) are the normal ways of waiting for a frontend.
        bool waiting = err == ENOENT || err == ECONNREFUSED || err == EAGAIN;
        if (!waiting && err != last_connect_errno_) {
            // E.g. EACCES: the socket's owner or mode keeps this process
            // out.  Shown in status too, where operators look first.
            log_message(NVH_LOG_WARN, "%s: cannot connect: %s",
                        socket_path_.c_str(), std::strerror(err));
            std::snprintf(last_error_, sizeof last_error_, "cannot connect: %s",
                          std::strerror(err));
            publish();
        }
        last_connect_errno_ = err;
        wait_for_frontend(kReconnectInterval);
        return;
    }
    if (path_watched_) {
        control_->paths().remove(this);
        path_watched_ = false;
    }
    fast_retries_ = 0;
    last_connect_errno_ = 0;
    connected_ = true;
    kicks_.clear();
    n_connects_++;
    {
        std::lock_guard<std::mutex> guard(info_mutex_);
        connected_at_ = std::chrono::steady_clock::now();
    }
    log_message(NVH_LOG_INFO, "%s: connected to the frontend", socket_path_.c_str());
    control_->arm_timer(this, kMemoryFaultCheckInterval);
    publish();
}

void Device::disconnect(const char* reason, nvh_log_level level) {
    log_message(level, "%s: disconnected: %s", socket_path_.c_str(), reason);
    std::snprintf(last_error_, sizeof last_error_, "%s", reason);
    if (refusal_.on_disconnect()) {
        log_message(NVH_LOG_WARN, "%s: the frontend closed %u connections in a "
                    "row after reading the offered features (0x%016" PRIx64
                    ") without setting any: the guest has probably negotiated "
                    "a feature this backend does not offer (QEMU logs \"vhost "
                    "lacks feature mask\")", socket_path_.c_str(),
                    refusal_.in_a_row(), offered_features_);
    }
    // Queues first (locked and reset, so no burst runs on them), then the
    // memory they pointed into, then the socket.  Kick fds are unwatched
    // before the reset closes them.
    kicks_.unwatch_all();
    handler_.reset();
    // Nothing of this connection is mapped any more: a fault in it is over.
    memory_faulted_.store(false, std::memory_order_relaxed);
    announce_.store(0, std::memory_order_relaxed);
    driver_ok_.store(handler_.driver_ok(), std::memory_order_relaxed);
    control_->unwatch(session_.fd());
    session_.close();
    connected_ = false;
    publish();
    wait_for_frontend(kQuickReconnectInterval);
}

void Device::wait_for_frontend(std::chrono::milliseconds poll) {
    // Set up again at every attempt: cheap when already in place, and it
    // recovers a watch lost with its directory.
    path_watched_ = control_->paths().add(socket_path_, this);
    std::chrono::milliseconds delay = path_watched_ ? poll : kQuickReconnectInterval;
    if (fast_retries_ > 0) {
        fast_retries_--;
        delay = kFastRetryInterval;
    }
    control_->arm_timer(this, delay);
}

void Device::on_path_changed() {
    DeviceLogScope scope(log_);
    if (connected_ || detached_) {
        return;
    }
    fast_retries_ = kFastRetries;
    try_connect();
}

void Device::on_timer() {
    DeviceLogScope scope(log_);
    if (connected_) {
        check_memory_fault();
    } else {
        try_connect();
    }
}

void Device::check_memory_fault() {
    // Acquire: pairs with the handler's release (fault_guard.cpp).
    if (memory_faulted_.load(std::memory_order_acquire)) {
        memory_faults_++;
        disconnect(kMemoryFaultReason);   // Arms the reconnect timer.
        return;
    }
    control_->arm_timer(this, kMemoryFaultCheckInterval);
}

void Device::on_fd_event(uint32_t) {
    DeviceLogScope scope(log_);
    if (!session_.connected()) {
        return;   // A stale event for a socket already closed.
    }
    if (memory_faulted_.load(std::memory_order_acquire)) {
        check_memory_fault();   // No message is applied to faulted memory.
        return;
    }
    failure_[0] = '\0';
    Status received = session_.receive(*this);
    if (!received) {
        // A frontend that closes its end is normal operation (QEMU quits, a
        // guest shuts down, testpmd exits): INFO, as dpdkvhostuserclient
        // logs it ("vhost peer closed", "vHost Device ... has been
        // removed").  A WARN there would be one per guest shutdown, and
        // OVS's own tests fail on any WARN they do not expect.
        nvh_log_level level = failure_[0] == '\0' && session_.closed_by_frontend()
                                  ? NVH_LOG_INFO
                                  : NVH_LOG_WARN;
        if (failure_[0] == '\0') {
            std::snprintf(failure_, sizeof failure_, "%s", received.error().what);
        }
        disconnect(failure_, level);
        return;
    }
    publish();
}

Status Device::on_message(const vhost_user::Header& header,
                          std::span<const uint8_t> payload,
                          std::span<UniqueFd> fds) {
    const char* name = vhost_user::request_name(header.request);
    refusal_.on_request(header.request);
    vhost_user::Message message;
    Status decoded = vhost_user::decode(header, payload, fds,
                                        handler_.decode_limits(), &message);
    if (!decoded) {
        std::snprintf(failure_, sizeof failure_, "malformed %s (%u): %s",
                      name, header.request, decoded.error().what);
        return decoded.error();
    }
    // The message may close kick fds: unwatch them first, watch the
    // started rings' again after (see kick_monitor.h).
    kicks_.unwatch_all();
    HandleOutcome outcome = handler_.handle(message);
    kicks_.watch_started(handler_.vring_count(), handler_.features());
    driver_ok_.store(handler_.driver_ok(), std::memory_order_relaxed);
    if (uint64_t mac = handler_.take_announce()) {
        // Published with release: the dequeue that takes it (acquire) is
        // the only reader.
        announce_.store(mac, std::memory_order_release);
    }
    // Published before the reply, so a frontend that waited for its ack
    // (and anyone it tells) sees the new state in get_info().
    publish();
    if (outcome.reply && !replaying_) {
        Status sent = session_.send(outcome.reply->span());
        if (!sent) {
            return sent;
        }
    }
    switch (outcome.verdict) {
    case HandleOutcome::Verdict::kApplied:
        break;
    case HandleOutcome::Verdict::kRefused:
        log_message(NVH_LOG_DBG, "%s: refused %s: %s", socket_path_.c_str(),
                    name, outcome.reason);
        if (replaying_) {
            // The state would differ from the previous process's.
            return Error{EPROTO, "a request of the handed-over state was refused"};
        }
        break;
    case HandleOutcome::Verdict::kFatal:
        std::snprintf(failure_, sizeof failure_, "%s: %s", name,
                      outcome.reason);
        return Error{EPROTO, outcome.reason};
    }
    return Status::Ok();
}

void Device::fill_info(nvh_device_info* info) const {
    *info = nvh_device_info{};
    std::snprintf(info->socket_path, sizeof info->socket_path, "%s",
                  socket_path_.c_str());
    info->features = handler_.features();
    info->protocol_features = handler_.protocol_features();
    for (uint32_t i = 0; i < handler_.vring_count(); i++) {
        info->vring_size[i] = static_cast<uint16_t>(queues_[i].size());
        info->vring_enabled[i] = queues_[i].enabled();
        if (queues_[i].started()) {
            info->n_vrings++;
        }
    }
    // With VHOST_USER_PROTOCOL_F_STATUS, nothing is served before the
    // driver sets DRIVER_OK (virtio 1.2, 3.1.1; vhost-user.rst).
    const bool driver_ok = handler_.driver_ok();
    for (uint32_t qp = 0; driver_ok && qp < max_queue_pairs_; qp++) {
        if (queues_[2 * qp].ready() && queues_[2 * qp + 1].ready()) {
            info->n_queue_pairs = qp + 1;
        }
    }
    if (!connected_) {
        info->state = NVH_STATE_WAITING;
    } else if (driver_ok && queues_[0].ready() && queues_[1].ready()) {
        info->state = NVH_STATE_READY;
    } else {
        info->state = NVH_STATE_CONNECTED;
    }
    info->mtu = handler_.mtu();
    info->numa_node = numa_node_;
    info->n_connects = n_connects_;
    info->n_resumes = n_resumes_;
    info->memory_faults = memory_faults_;
    std::snprintf(info->last_error, sizeof info->last_error, "%s", last_error_);
    if (kicks_.memory_not_shared()) {
        std::snprintf(info->warning, sizeof info->warning, "%s",
                      kMemoryNotSharedWarning);
    } else if (refusal_.refusing()) {
        std::snprintf(info->warning, sizeof info->warning, "%s",
                      kFeaturesRefusedWarning);
    }
}

void Device::on_memory_not_shared(uint32_t vring, uint32_t kicks) {
    log_message(NVH_LOG_WARN, "%s: guest memory appears not shared: %u kicks "
                "(the last on vring %u) on rings whose avail index never moved "
                "in the mapped memory; start QEMU with share=on on the guest "
                "memory backend", socket_path_.c_str(), kicks, vring);
    publish();
}

void Device::publish() {
    if (numa_generation_ != handler_.memory_generation()) {
        numa_generation_ = handler_.memory_generation();
        numa_node_ = numa_node_of(handler_.memory());
    }
    nvh_device_info next;
    fill_info(&next);
    bool changed;
    {
        std::lock_guard<std::mutex> guard(info_mutex_);
        changed = !same_observable_state(info_, next);
        info_ = next;
    }
    // No lock held: the callback may run while a destroyer waits for the
    // control thread, and must not be able to deadlock with it.
    if (changed && state_changed_ && !detached_) {
        state_changed_(aux_);
    }
}

void Device::get_info(nvh_device_info* info) const {
    std::lock_guard<std::mutex> guard(info_mutex_);
    *info = info_;
    if (info->state != NVH_STATE_WAITING) {
        auto since = std::chrono::steady_clock::now() - connected_at_;
        info->connected_ms = static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(since).count());
    }
}

// The reason a dropped connection shows in last_error.
static constexpr char kReconnectReason[] = "reconnect requested";

bool Device::reconnect() {
    bool dropped = false;
    control_->run_sync([this, &dropped] {
        DeviceLogScope scope(log_);
        if (detached_) {
            return;
        }
        if (session_.connected()) {
            disconnect(kReconnectReason, NVH_LOG_INFO);   // Asked for.
            dropped = true;
        }
        // A frontend that was connected still listens: the first attempt
        // normally succeeds; otherwise retry quickly for a while.
        fast_retries_ = kFastRetries;
        try_connect();
    });
    return dropped;
}

uint32_t Device::dequeue_burst(uint32_t qp, nvh_packet* pkts, uint32_t n) {
    if (qp >= max_queue_pairs_ || n == 0) {
        return 0;
    }
    Virtqueue& vq = queues_[2 * qp + 1];   // transmitqN (virtio 1.2, 5.1.2)
    BurstLock lock(vq);
    if (!lock.held() || !vq.ready() || !serving()) {
        return 0;
    }
    n = n < NVH_MAX_BURST ? n : NVH_MAX_BURST;
    uint32_t injected = 0;
    if (announce_.load(std::memory_order_relaxed) != 0 &&
        pkts[0].capacity >= kRarpFrameLen) {
        // vhost-user.rst, VHOST_USER_SEND_RARP: the RARP goes out as if the
        // guest had sent it, ahead of the guest's own frames.
        if (uint64_t mac = announce_.exchange(0, std::memory_order_acquire)) {
            build_rarp(mac, pkts[0].data);
            pkts[0].len = kRarpFrameLen;
            pkts[0].offload = nvh_offload{};
            injected = 1;
        }
    }
    if (injected == n) {
        return injected;
    }
    return injected + net_dequeue_burst(vq, pkts + injected, n - injected,
                                        LargeBufferHook{large_buffer_, aux_, qp});
}

uint32_t Device::enqueue_burst(uint32_t qp, const nvh_packet* pkts, uint32_t n) {
    if (qp >= max_queue_pairs_ || n == 0) {
        return 0;
    }
    Virtqueue& vq = queues_[2 * qp];       // receiveqN (virtio 1.2, 5.1.2)
    BurstLock lock(vq);
    if (!lock.held() || !vq.ready() || !serving()) {
        return 0;
    }
    return net_enqueue_burst(vq, pkts, n < NVH_MAX_BURST ? n : NVH_MAX_BURST);
}

bool Device::vring_position(uint32_t vring, nvh_vring_position* pos) {
    *pos = nvh_vring_position{};
    if (vring >= NVH_MAX_VRINGS) {
        return false;
    }
    Virtqueue& vq = queues_[vring];
    // The data path and the control thread change these only under the
    // queue's lock.
    vq.access_lock().lock();
    pos->started = vq.started();
    pos->packed = vq.packed();
    if (vq.started()) {
        pos->broken = vq.broken();
        if (vq.packed()) {
            PackedBase b = vq.packed_ring().base();
            pos->last_avail_idx = static_cast<uint16_t>(b.avail_idx | (b.avail_wrap << 15));
            pos->used_idx = static_cast<uint16_t>(b.used_idx | (b.used_wrap << 15));
        } else {
            pos->last_avail_idx = vq.split_ring().last_avail_idx();
            pos->used_idx = vq.split_ring().last_used_idx();
            pos->driver_avail_idx = vq.driver_avail_idx();
        }
    }
    vq.access_lock().unlock();
    return true;
}

uint32_t Device::memory_regions(nvh_memory_region* regions, uint32_t n) {
    uint32_t count = 0;
    // The memory table is the control thread's.
    control_->run_sync([&] {
        const GuestMemory* memory = handler_.memory();
        if (memory == nullptr) {
            return;
        }
        count = static_cast<uint32_t>(memory->region_count());
        for (uint32_t i = 0; i < count && i < n; i++) {
            const MemoryRegionSpec& s = memory->region(i).spec();
            regions[i] = {s.guest_phys_addr, s.memory_size, s.userspace_addr};
        }
    });
    return count;
}

bool Device::vring_stats(uint32_t vring, nvh_vring_stats* stats) const {
    *stats = nvh_vring_stats{};
    if (vring >= NVH_MAX_VRINGS) {
        return false;
    }
    const VringCounters& c = queues_[vring].counters();
    auto load = [](const std::atomic<uint64_t>& v) {
        return v.load(std::memory_order_relaxed);
    };
    stats->packets = load(c.packets);
    stats->bytes = load(c.bytes);
    stats->ring_full = load(c.ring_full);
    stats->invalid_descriptors = load(c.invalid_descriptors);
    stats->undersized_frames = load(c.undersized_frames);
    stats->oversized_frames = load(c.oversized_frames);
    stats->rx_buffer_too_small = load(c.rx_buffer_too_small);
    stats->guest_notifications = load(c.guest_notifications);
    stats->multicast = load(c.multicast);
    stats->broadcast = load(c.broadcast);
    stats->broken_rings = load(c.broken_rings);
    stats->call_stalls = load(c.call_stalls);
    for (uint32_t i = 0; i < NVH_SIZE_BINS; i++) {
        stats->size_bins[i] = load(c.size_bins[i]);
    }
    return true;
}

}  // namespace nvh
