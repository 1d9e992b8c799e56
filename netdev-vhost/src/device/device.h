// SPDX-License-Identifier: Apache-2.0
// device.h: one vhost-user net device: its configuration, connection state
// machine (WAITING -> CONNECTED -> READY, back to WAITING on disconnect),
// virtqueues and guest memory, the info snapshot the C ABI reads, and the
// data-path entry points.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "device/control_thread.h"
#include "memory/fault_guard.h"
#include "device/path_watcher.h"
#include "device/kick_monitor.h"
#include "device/notifier.h"
#include "device/feature_refusal.h"
#include "vhost_user/message_handler.h"
#include "net/net_header.h"
#include "netdev-vhost/nvh.h"
#include "base/log.h"
#include "base/result.h"
#include "vhost_user/session.h"
#include "ring/virtqueue.h"

namespace nvh {

// Every virtio feature a device offers (docs/features.md).  Fixed for the
// device's lifetime, so the same on every connection and after a restart of
// the same build, as a frontend resuming a guest requires; a change of this
// set between versions is an upgrade constraint (docs/install.md).
constexpr uint64_t device_offered_features(bool offloads) {
    return kOfferedFeatures | kGuestOffloadFeatures |
           (offloads ? kHostOffloadFeatures : kUnusableHostOffloadFeatures);
}

// Whether two snapshots agree on everything a state_changed callback reacts
// to (state, negotiation, vrings, NUMA node); counters and texts aside.
bool same_observable_state(const nvh_device_info& a, const nvh_device_info& b);

// nvh_device_info.warning when KickMonitor found the guest's memory not
// shared with this process.
extern const char kMemoryNotSharedWarning[];
// nvh_device_info.warning when the frontend keeps closing the connection
// after reading the offered features (FeatureRefusalWatch).
extern const char kFeaturesRefusedWarning[];

// The connection state machine's wait between connect attempts while the
// frontend is not listening.  A device normally learns of a new socket at
// once from the PathWatcher, so its poll is only a safety net for what
// inotify cannot see.  It polls quicker without a watch (no directory yet,
// no inotify) and once right after a connection ends (a frontend that closed
// the connection may still be listening).
inline constexpr std::chrono::milliseconds kReconnectInterval{1000};
inline constexpr std::chrono::milliseconds kQuickReconnectInterval{100};
// After the socket appears: a frontend binds, then listens, so the first
// attempts may be refused; they are retried this often, this many times.
inline constexpr std::chrono::milliseconds kFastRetryInterval{2};
inline constexpr int kFastRetries = 25;
// How often a connected device checks whether its guest memory faulted
// (memory/fault_guard.h): the data path stops at once, the connection is
// closed within this.
inline constexpr std::chrono::milliseconds kMemoryFaultCheckInterval{500};

// nvh_device_info.last_error after guest memory faulted.
extern const char kMemoryFaultReason[];

class Device final : private ControlClient, private MessageSink,
                     private KickListener, private PathListener {
public:
    // Validates `config` and starts connecting (on the control thread).
    static Result<std::unique_ptr<Device>> create(const nvh_device_config& config);
    // Disconnects and detaches from the control thread: once it returns no
    // callback runs and the control thread no longer touches the device.
    ~Device();

    Device(const Device&) = delete;
    Device& operator=(const Device&) = delete;

    // A consistent copy of the last published state.  Never waits for the
    // frontend: the control thread holds the lock only while copying.
    void get_info(nvh_device_info* info) const;

    // nvh_device_reconnect: drops the connection (if any) on the control
    // thread and connects again at once.  True if one was dropped.
    bool reconnect();

    // nvh_device_hand_over (device/handover.cpp): stops the data path and
    // the control of the connection, and writes its state into *record,
    // whose fds then keep it open.  Afterwards the device only waits to be
    // destroyed, which leaves the connection to the record.  Fails, changing
    // nothing, without a connection, in the middle of a message, after a
    // memory fault or during a migration.
    Status hand_over(vhost_user::StateRecord* record);
    const std::string& socket_path() const { return socket_path_; }

    // nvh_device_set_max_guest_memory: the next memory table and dirty log
    // are bounded by it.
    void set_max_guest_memory(uint64_t bytes) { handler_.set_max_guest_memory(bytes); }

    // ---- Data path: no allocation, no system call on a frontend's fd. ----
    uint32_t dequeue_burst(uint32_t qp, nvh_packet* pkts, uint32_t n);
    uint32_t enqueue_burst(uint32_t qp, const nvh_packet* pkts, uint32_t n);
    bool vring_stats(uint32_t vring, nvh_vring_stats* stats) const;
    // ---- Diagnostics (see nvh.h). -----------------------------------------
    bool vring_position(uint32_t vring, nvh_vring_position* pos);
    uint32_t memory_regions(nvh_memory_region* regions, uint32_t n);

private:
    Device(const nvh_device_config& config, uint32_t max_queue_pairs);

    // ControlClient (control thread).
    void on_fd_event(uint32_t epoll_events) override;
    void on_timer() override;
    // MessageSink (control thread).
    Status on_message(const vhost_user::Header& header,
                      std::span<const uint8_t> payload,
                      std::span<UniqueFd> fds) override;
    // KickListener (control thread).
    void on_memory_not_shared(uint32_t vring, uint32_t kicks) override;
    // PathListener (control thread): the socket file changed.
    void on_path_changed() override;

    // Registers every vring's interrupt path with `notifier`.
    void attach_notifier(Notifier* notifier);
    void try_connect();
    // Takes this device's connection from the handover keeper listening at
    // `keeper_socket`, if it holds one, and replays its state
    // (device/handover.cpp).  True if a connection was taken (even if its
    // state was then refused and the connection closed: the device then
    // reconnects as after any disconnect).
    bool resume_from_keeper(const std::string& keeper_socket);
    // Replays a handed-over connection's record; fails if it is refused.
    Status replay(vhost_user::StateRecord& record);
    // Waits for the next attempt: watches the socket path and arms the timer
    // (at most `poll` from now).
    void wait_for_frontend(std::chrono::milliseconds poll);
    // Closes the connection, logging `reason` at `level`: WARN unless the
    // connection ended as it normally does (the frontend closed it, an
    // operator asked for a reconnect).
    void disconnect(const char* reason, nvh_log_level level = NVH_LOG_WARN);
    // Closes the connection if its guest memory or dirty log faulted;
    // otherwise checks again kMemoryFaultCheckInterval from now.
    void check_memory_fault();
    // Recomputes the snapshot; calls state_changed if it changed.
    void publish();
    void fill_info(nvh_device_info* info) const;
    // Whether a burst may touch guest memory (data path): the driver may be
    // served and the memory has not faulted.  Relaxed: a burst that misses
    // a fault just set reads zeros, which are as harmless as anything a
    // guest can write, and the next one stops.
    bool serving() const {
        return driver_ok_.load(std::memory_order_relaxed) &&
               !memory_faulted_.load(std::memory_order_relaxed);
    }

    const std::string socket_path_;
    const uint32_t max_queue_pairs_;
    nvh_state_changed_fn* const state_changed_;
    void* const aux_;
    nvh_large_buffer_fn* const large_buffer_;   // May be null.
    const DeviceLog log_;   // Opened (DeviceLogScope) by every callback.

    ControlThread* control_ = nullptr;
    Notifier* notifier_ = nullptr;   // Writes the vrings' call eventfds.
    MessageHandler::QueueArray queues_;
    const uint64_t offered_features_;   // Before handler_, which uses it.
    MessageHandler handler_{queues_, max_queue_pairs_, offered_features_,
                            &memory_faulted_};
    KickMonitor kicks_{queues_, *this};
    Session session_;

    // Control thread only.
    bool connected_ = false;
    uint64_t n_connects_ = 0;
    uint64_t memory_faults_ = 0;   // Connections closed for a SIGBUS.
    char last_error_[sizeof(nvh_device_info::last_error)] = "";
    char failure_[sizeof(nvh_device_info::last_error)] = "";   // This event's.
    int last_connect_errno_ = 0;
    FeatureRefusalWatch refusal_;
    int fast_retries_ = 0;       // Left since the socket appeared.
    bool path_watched_ = false;  // Registered with the PathWatcher.
    uint64_t numa_generation_ = ~uint64_t{0};   // Memory numa_node_ is of.
    int numa_node_ = -1;
    bool detached_ = false;
    // Replaying a handed-over state: replies are not sent (the frontend
    // asked nothing).
    bool replaying_ = false;
    uint64_t n_resumes_ = 0;   // Connections taken over at a restart.

    // Shared with the data path (one relaxed load per burst each).
    // Whether the driver may be served (MessageHandler::driver_ok()).
    std::atomic<bool> driver_ok_{true};
    // The MAC of a RARP to inject before the next dequeued frame, or 0.
    std::atomic<uint64_t> announce_{0};
    // Set by the SIGBUS handler when the guest memory or dirty log of this
    // connection faulted (fault_guard.h); cleared once they are unmapped.
    // Every mapping of handler_ points here; ~Device unmaps them all
    // (handler_.reset()) before any member is destroyed.
    FaultFlag memory_faulted_{false};

    mutable std::mutex info_mutex_;
    nvh_device_info info_{};   // Guarded by info_mutex_.
    // When the current connection was made (info_.connected_ms is computed
    // from it in get_info()).  Guarded by info_mutex_.
    std::chrono::steady_clock::time_point connected_at_{};
};

}  // namespace nvh
