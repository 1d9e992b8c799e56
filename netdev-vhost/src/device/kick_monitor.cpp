// SPDX-License-Identifier: Apache-2.0
// kick_monitor.cpp: see kick_monitor.h.
#include "device/kick_monitor.h"

#include <sys/epoll.h>

#include "base/eventfd.h"
#include "base/log.h"
#include "base/virtio_spec.h"

namespace nvh {
namespace {

// Reads a kick eventfd once if its counter is non-zero now.  Returns false
// if it cannot be read that way (vhost-user.rst, VHOST_USER_SET_VRING_KICK:
// it is an eventfd, which the handler checked; an eventfd read returns 8
// bytes).  Never blocks, even on a blocking eventfd whose counter the
// frontend empties concurrently or whose O_NONBLOCK it flips: see
// base/eventfd.h (a poll() before a read() would leave that race open).
bool drain(int fd, bool* kicked) {
    EventfdRead read = read_eventfd_nowait(fd);
    *kicked = read == EventfdRead::kCounted;
    return read != EventfdRead::kFailed;
}

}  // namespace

KickMonitor::KickMonitor(std::array<Virtqueue, NVH_MAX_VRINGS>& queues,
                         KickListener& listener)
    : queues_(queues), listener_(listener) {
    for (uint32_t i = 0; i < NVH_MAX_VRINGS; i++) {
        watches_[i].monitor = this;
        watches_[i].index = i;
    }
}

void KickMonitor::unwatch(Watch& w) {
    if (w.fd >= 0) {
        control_->unwatch(w.fd);
        w.fd = -1;
    }
}

void KickMonitor::unwatch_all() {
    for (Watch& w : watches_) {
        unwatch(w);
    }
}

void KickMonitor::watch_started(uint32_t n_vrings, uint64_t features) {
    if (not_shared_ || shared_ || !control_ ||
        virtio::has(features, virtio::kFRingPacked)) {
        return;
    }
    for (uint32_t i = 0; i < n_vrings && i < NVH_MAX_VRINGS; i++) {
        Virtqueue& vq = queues_[i];
        Watch& w = watches_[i];
        // vhost-user.rst, VHOST_USER_SET_VRING_KICK: with the "no fd" flag
        // the frontend does not kick at all; nothing to watch.
        if (w.fd >= 0 || !vq.started() || vq.kick_fd() < 0) {
            continue;
        }
        // Kicks from before the watch are not counted.  The handler let
        // only eventfds through; one that still cannot be read without
        // blocking, or that epoll refuses, is simply not watched.
        bool kicked;
        if (!drain(vq.kick_fd(), &kicked) || !control_->watch(vq.kick_fd(), &w)) {
            continue;
        }
        w.fd = vq.kick_fd();
    }
}

bool KickMonitor::any_ring_moved() const {
    for (const Virtqueue& vq : queues_) {
        // Packed rings have no avail->idx (and are never watched).
        if (vq.started() && !vq.packed() &&
            vq.driver_avail_idx() != vq.start_avail_idx()) {
            return true;
        }
    }
    return false;
}

void KickMonitor::on_kick(uint32_t index, uint32_t epoll_events) {
    Watch& w = watches_[index];
    if (w.fd < 0) {
        return;   // A stale event of a watch ended earlier in this batch.
    }
    if (epoll_events & (EPOLLERR | EPOLLHUP)) {
        // An eventfd never reports these, but if it did, level-triggered,
        // it would report them forever.
        unwatch(w);
        return;
    }
    // A watch replaced earlier in this batch may get the old fd's event:
    // drain() reads only what is readable now.
    bool kicked;
    if (!drain(w.fd, &kicked)) {
        unwatch(w);
        return;
    }
    if (!kicked) {
        return;
    }
    const Virtqueue& vq = queues_[index];
    if (!vq.started() || vq.driver_avail_idx() != vq.start_avail_idx()) {
        // Our mapping sees the driver's writes: this ring is fine.
        unwatch(w);
        return;
    }
    // A notification alone proves nothing: a driver may notify with nothing
    // new available (virtio 1.2, 2.7.13 does not forbid it; DPDK's virtio
    // PMD kicks every transmit queue once at start, before it has queued
    // anything).  What private memory does is hide every write of the
    // driver, so the kick counts only while no started ring has moved; once
    // one has, this connection's memory is shared and the watch ends.
    if (any_ring_moved()) {
        log_message(NVH_LOG_DBG, "vring %u kicked with nothing new, but the "
                    "driver's writes reach this process elsewhere", index);
        unwatch_all();
        shared_ = true;
        return;
    }
    log_message(NVH_LOG_DBG, "vring %u kicked, avail index still %u as at "
                "start, and so are the other rings'", index,
                vq.start_avail_idx());
    if (++kicks_ < kKicksForVerdict) {
        return;
    }
    not_shared_ = true;
    unwatch_all();
    listener_.on_memory_not_shared(index, kicks_);
}

}  // namespace nvh
