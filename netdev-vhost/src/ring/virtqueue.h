// SPDX-License-Identifier: Apache-2.0
// virtqueue.h: one vring of the device, as the control plane configures it
// (SET_VRING_NUM/ADDR/BASE/KICK/CALL/ENABLE) and as the data path polls it.
//
// Concurrency: the control thread changes a queue only while holding its
// AccessLock (lock()); the data path takes it with try_lock() once per burst
// and skips the queue if it is busy.  So a PMD thread never sees a ring whose
// memory is being unmapped or whose addresses are half written.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "memory/dirty_log.h"
#include "memory/guest_memory.h"
#include "ring/guest_call.h"
#include "netdev-vhost/nvh.h"
#include "ring/packed_ring.h"
#include "base/result.h"
#include "ring/split_ring.h"
#include "base/unique_fd.h"

namespace nvh {

// Maximum queue size of a split or packed virtqueue (virtio 1.2, 2.7 and 2.8:
// "Queue Size ... maximum is 32768").
inline constexpr uint32_t kMaxQueueSize = 32768;

// VHOST_USER_SET_VRING_ADDR payload (vhost-user.rst, "Vring address
// description"); the addresses are in the frontend's virtual address space.
struct VringAddresses {
    uint32_t flags = 0;               // Bit 0: VHOST_VRING_F_LOG.
    uint64_t desc_user_addr = 0;
    uint64_t used_user_addr = 0;
    uint64_t avail_user_addr = 0;
    uint64_t log_guest_addr = 0;
};

// Spinlock for one queue: try_lock() on the data path (one atomic exchange
// per burst), lock() on the control thread.
class AccessLock {
public:
    bool try_lock() {
        return !locked_.exchange(true, std::memory_order_acquire);
    }
    void lock() {
        while (locked_.exchange(true, std::memory_order_acquire)) {
            while (locked_.load(std::memory_order_relaxed)) {
                __builtin_ia32_pause();
            }
        }
    }
    void unlock() { locked_.store(false, std::memory_order_release); }

private:
    std::atomic<bool> locked_{false};
};

// Counters of one vring: written by the single thread that polls it, once
// per burst, with relaxed load + store (no read-modify-write atomics); read
// by anyone with relaxed loads.  guest_notifications and call_stalls are
// written the same way by the one thread that delivers interrupts (the
// notifier, GuestCall::deliver).
struct VringCounters {
    std::atomic<uint64_t> packets{0};
    std::atomic<uint64_t> bytes{0};
    std::atomic<uint64_t> ring_full{0};
    std::atomic<uint64_t> invalid_descriptors{0};
    std::atomic<uint64_t> undersized_frames{0};
    std::atomic<uint64_t> oversized_frames{0};
    std::atomic<uint64_t> rx_buffer_too_small{0};
    // Interrupts delivered, or found already pending (full counter).
    std::atomic<uint64_t> guest_notifications{0};
    std::atomic<uint64_t> multicast{0};
    std::atomic<uint64_t> broadcast{0};
    std::array<std::atomic<uint64_t>, NVH_SIZE_BINS> size_bins{};
    // Times the driver broke the ring (counted once per start()).
    std::atomic<uint64_t> broken_rings{0};
    // Writes of the call eventfd that blocked and were cut short by the
    // notifier's bound: no interrupts until the next SET_VRING_CALL.
    std::atomic<uint64_t> call_stalls{0};
    // Descriptors the data path read from guest memory (internal: bounds the
    // work a guest can cause; not part of nvh_vring_stats).
    std::atomic<uint64_t> descriptors_read{0};

    // Adds n on the polling thread.
    static void add(std::atomic<uint64_t>& c, uint64_t n) {
        if (n) {
            c.store(c.load(std::memory_order_relaxed) + n,
                    std::memory_order_relaxed);
        }
    }
};

class Virtqueue {
public:
    Virtqueue() = default;
    Virtqueue(const Virtqueue&) = delete;
    Virtqueue& operator=(const Virtqueue&) = delete;

    AccessLock& access_lock() { return lock_; }

    // ---- Control plane: call with access_lock() held. -------------------

    // VHOST_USER_SET_VRING_NUM.  Refuses sizes that are 0, not a power of two
    // or above kMaxQueueSize (virtio 1.2, 2.7).
    Status set_num(uint32_t num);
    void set_addresses(const VringAddresses& addresses);
    // Whether `addresses` name the same three ring parts as the current
    // ones (flags and log_guest_addr aside).
    bool same_rings(const VringAddresses& addresses) const {
        return addresses.desc_user_addr == addresses_.desc_user_addr &&
               addresses.avail_user_addr == addresses_.avail_user_addr &&
               addresses.used_user_addr == addresses_.used_user_addr;
    }
    // VHOST_USER_SET_VRING_BASE: next avail index the device will read; for
    // a packed ring the PackedBase encoding (packed_ring.h).
    void set_base(uint32_t base);
    // VHOST_USER_GET_VRING_BASE answer: next avail index the device would
    // read; for a packed ring avail and used positions (PackedBase).
    uint32_t base() const;
    void set_kick_fd(UniqueFd fd);
    void set_call_fd(UniqueFd fd);
    void set_err_fd(UniqueFd fd);
    void set_enabled(bool enabled);
    // The dirty log the data path records its writes in, or nullptr (not
    // logging: VHOST_F_LOG_ALL not negotiated or no log shared yet).
    void set_dirty_log(const DirtyLog* log) { write_log_.set_log(log); }
    bool dirty_logging() const { return write_log_.active(); }

    // Translates the ring addresses through `memory` (which must stay alive
    // and unchanged until stop()) and makes the rings visible to the data
    // path.  `features` are the negotiated virtio features.  Fails, leaving
    // the queue stopped, if the size is unset or any ring is not entirely
    // inside mapped memory.
    Status start(const GuestMemory& memory, uint64_t features);
    // Detaches the rings (the data path sees a stopped queue).  Keeps size,
    // addresses, base and fds, so start() can run again after a new table.
    void stop();
    // Stops and forgets everything (back to the state after construction),
    // closing the fds; counters are kept.
    void reset();

    bool started() const { return started_; }
    bool enabled() const { return enabled_; }
    bool ready() const { return started_ && enabled_; }
    uint32_t size() const { return num_; }
    bool kick_fd_set() const { return kick_fd_.valid(); }
    // The SET_VRING_ADDR addresses and the error eventfd (or -1), for the
    // state a planned restart hands over (vhost_user/state_record.h).
    const VringAddresses& addresses() const { return addresses_; }
    int err_fd() const { return err_fd_.get(); }
    // The kick eventfd, or -1 (none, or the "no fd" flag).  Control thread.
    int kick_fd() const { return kick_fd_.get(); }
    // avail->idx (virtio 1.2, 2.7.6: the le16 after avail->flags) as guest
    // memory holds it now, read through this process's mapping; 0 while
    // stopped.  For the control thread, which owns the mapping (it is only
    // replaced or unmapped by the control thread itself), so no lock is
    // needed; one relaxed load, since nothing read afterwards depends on it.
    uint16_t driver_avail_idx() const {
        uint8_t* avail = split_.avail_host();
        if (!started_ || avail == nullptr) {
            return 0;
        }
        return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(avail + 2))
            .load(std::memory_order_relaxed);
    }
    // The avail index the ring started at (VHOST_USER_SET_VRING_BASE, or
    // where the device stopped before a restart): stop() alone changes it.
    uint16_t start_avail_idx() const { return static_cast<uint16_t>(base_); }

    const VringCounters& counters() const { return counters_; }

    // ---- Data path: see net/virtio_net.h; the fields below are its state. -----
    // (Owned by the data-path implementation; add what it needs here.)
    // Call with access_lock() held (the data path's try_lock).

    SplitRing& split_ring() { return split_; }
    PackedRing& packed_ring() { return packed_; }
    // Started with VIRTIO_F_RING_PACKED: the data path uses packed_ring().
    bool packed() const { return packed_mode_; }
    VringCounters& mutable_counters() { return counters_; }
    // virtio-net header length for the negotiated features (10 or 12).
    uint32_t header_len() const { return header_len_; }
    bool mrg_rxbuf() const { return mrg_rxbuf_; }
    // The negotiated virtio features the queue was started with.
    uint64_t features() const { return features_; }
    // The driver broke the ring (avail index jump, head out of range): the
    // data path no longer serves it until the next start().
    bool broken() const { return packed_mode_ ? packed_.broken() : split_.broken(); }
    // Where the data path records its writes to guest memory.
    const WriteLog& write_log() const { return write_log_; }
    // Host addresses of the ring parts while started, else nullptr.
    uint8_t* desc_host_address() const { return split_.desc_host(); }

    // Counts in broken_rings, once per start(), that the driver broke the
    // ring.  The data path calls it after every burst, holding the lock: one
    // predictable branch.
    void count_if_broken() {
        if (__builtin_expect(started_ && !broken_counted_ && broken(), 0)) {
            broken_counted_ = true;
            VringCounters::add(counters_.broken_rings, 1);
        }
    }

    // Publishes the used elements written by a burst and, if the driver
    // asked for an interrupt (virtio 1.2, 2.7.7 / 2.8.10), requests one from
    // the notifier thread (guest_call.h), which writes the call eventfd.
    // Returns whether it requested one.
    bool publish_and_notify();

    // The interrupt path: the notifier thread delivers through it.
    GuestCall& guest_call() { return call_; }
    const GuestCall& guest_call() const { return call_; }

private:
    Status start_packed(const GuestMemory& memory, uint64_t features);
    // Requests an interrupt (no system call on the frontend's fd).
    bool signal_guest();

    AccessLock lock_;
    VringCounters counters_;

    uint32_t num_ = 0;
    VringAddresses addresses_{};
    uint32_t base_ = 0;
    bool started_ = false;
    bool enabled_ = false;
    UniqueFd kick_fd_;
    // The call fd lives in call_, shared with the notifier thread.
    GuestCall call_{counters_.guest_notifications, counters_.call_stalls};
    UniqueFd err_fd_;

    // Data-path state, valid while started_.
    WriteLog write_log_;
    SplitRing split_;
    PackedRing packed_;
    bool packed_mode_ = false;
    bool broken_counted_ = false;
    uint32_t header_len_ = 0;
    bool mrg_rxbuf_ = false;
    uint64_t features_ = 0;
};

}  // namespace nvh
