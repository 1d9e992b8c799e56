// SPDX-License-Identifier: Apache-2.0
// kick_monitor.h: notices a guest whose memory is not shared with this
// process, from its kicks.
//
// A frontend whose guest memory backend is not shared (QEMU's
// memory-backend-file without share=on, memory-backend-memfd with
// share=off) still passes the memory fds in SET_MEM_TABLE, but the guest
// writes into private copy-on-write pages: its rings never change in our
// mapping and it never sees ours.  The data path then finds nothing to do
// and nothing says why.  The trace visible from here is a kick: a driver
// notifies only after making buffers available, and it updates avail->idx
// before it notifies (virtio 1.2, 2.7.13), so a kick on a ring whose
// avail->idx, as our mapping shows it, is still where the ring started means
// the driver's writes do not reach us.  Such a guest kicks at least once per
// ring: it cannot see VIRTQ_USED_F_NO_NOTIFY or the avail_event that
// Virtqueue::start wrote (2.7.10); without EVENT_IDX it kicks on every
// buffer.  A guest whose memory is shared rarely kicks, and when it does the
// index has moved, except for the odd notification with nothing new (which
// virtio allows: DPDK's virtio PMD kicks each transmit queue once at start).
// Those come from drivers whose other writes we do see, e.g. the receive
// buffers they made available before: a kick counts only while no started
// ring has moved.
//
// So the kick eventfd of every started split ring is watched on the control
// thread.  An event is drained (one read), then avail->idx is compared with
// the index the ring started at: a ring whose index moved is healthy and is
// no longer watched; otherwise the event counts, unless another started ring
// has moved, which settles it for the connection ("shared": nothing is
// watched any more until the next connection).  kKicksForVerdict counted
// events on the connection give the verdict "not shared": it stays until
// clear() (the next connection) and no kick fd is watched any more.  Kicks
// pending when a watch begins are drained without counting: they may be
// left from before the ring (re)started.
//
// Synchronisation: everything here runs on the control thread, which is
// also the only thread that maps, unmaps and (re)starts rings, so the avail
// ring read in an event cannot be unmapped under it, and the ring's start
// index cannot change.  A control message may close a kick fd
// (SET_VRING_KICK replaces it; RESET_OWNER and disconnects reset the
// queues), and an epoll registration outlives the fd number while the
// frontend holds the eventfd, so unwatch_all() runs before every message and
// reset, and watch_started() after each message.  The data path is not
// involved.
#pragma once

#include <array>
#include <cstdint>

#include "base/log.h"
#include "device/control_thread.h"
#include "netdev-vhost/nvh.h"
#include "ring/virtqueue.h"

namespace nvh {

class KickListener {
public:
    // The verdict was just reached, on `vring`, after `kicks` counted kicks.
    virtual void on_memory_not_shared(uint32_t vring, uint32_t kicks) = 0;

protected:
    ~KickListener() = default;
};

class KickMonitor {
public:
    // Counted kicks (see above) on one connection that give the verdict: a
    // guest with EVENT_IDX and private memory kicks about once per ring.
    static constexpr uint32_t kKicksForVerdict = 2;

    // `queues` and `listener` outlive the monitor.
    KickMonitor(std::array<Virtqueue, NVH_MAX_VRINGS>& queues,
                KickListener& listener);
    // The owner calls unwatch_all() on the control thread first.
    ~KickMonitor() = default;
    KickMonitor(const KickMonitor&) = delete;
    KickMonitor& operator=(const KickMonitor&) = delete;

    // ---- Control thread only. ---------------------------------------------
    // `log` (the device's, see base/log.h) outlives the monitor.
    void attach(ControlThread* control, const DeviceLog& log) {
        control_ = control;
        log_ = &log;
    }
    // Stops watching every kick fd (before anything may close one).
    void unwatch_all();
    // Watches the kick fd of each started ring among vrings [0, n_vrings),
    // unless the verdict is in or `features` select packed rings (no
    // avail->idx there).
    void watch_started(uint32_t n_vrings, uint64_t features);
    // Forgets the verdict and the count (a new connection).
    void clear() {
        not_shared_ = false;
        shared_ = false;
        kicks_ = 0;
    }
    bool memory_not_shared() const { return not_shared_; }

private:
    struct Watch final : ControlClient {
        void on_fd_event(uint32_t epoll_events) override {
            DeviceLogScope scope(*monitor->log_);
            monitor->on_kick(index, epoll_events);
        }
        void on_timer() override {}

        KickMonitor* monitor = nullptr;
        uint32_t index = 0;
        int fd = -1;   // Registered with the control thread.
    };

    void on_kick(uint32_t index, uint32_t epoll_events);
    // Whether the avail index of any started split ring is no longer where
    // the ring started: the driver's writes reach our mapping.
    bool any_ring_moved() const;
    void unwatch(Watch& w);

    std::array<Virtqueue, NVH_MAX_VRINGS>& queues_;
    KickListener& listener_;
    ControlThread* control_ = nullptr;
    const DeviceLog* log_ = nullptr;
    std::array<Watch, NVH_MAX_VRINGS> watches_;
    uint32_t kicks_ = 0;   // Counted on this connection.
    bool not_shared_ = false;
    bool shared_ = false;   // Seen shared on this connection: not watched.
};

}  // namespace nvh
