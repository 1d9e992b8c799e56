// kick_monitor.cpp: see kick_monitor.h.
#include "device/kick_monitor.h"

#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/log.h"
#include "base/virtio_spec.h"

namespace nvh {
namespace {

// Reads a kick eventfd once if it is readable now.  Returns false if the fd
// is not an eventfd (vhost-user.rst, VHOST_USER_SET_VRING_KICK: it is one,
// and an eventfd read always returns 8 bytes).  Polls first, so a read never
// blocks even if the frontend gave a blocking fd.
bool drain(int fd, bool* kicked) {
    *kicked = false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) != 1 || !(p.revents & POLLIN)) {
        return true;
    }
    uint64_t count;
    if (::read(fd, &count, sizeof count) != static_cast<ssize_t>(sizeof count)) {
        return false;
    }
    *kicked = true;
    return true;
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
    if (not_shared_ || !control_ || virtio::has(features, virtio::kFRingPacked)) {
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
        // Kicks from before the watch are not counted.  An fd that is not
        // an eventfd, or that epoll refuses (a regular file), is simply not
        // watched: the frontend's word is not trusted.
        bool kicked;
        if (!drain(vq.kick_fd(), &kicked) || !control_->watch(vq.kick_fd(), &w)) {
            continue;
        }
        w.fd = vq.kick_fd();
    }
}

void KickMonitor::on_kick(uint32_t index, uint32_t epoll_events) {
    Watch& w = watches_[index];
    if (w.fd < 0) {
        return;   // A stale event of a watch ended earlier in this batch.
    }
    if (epoll_events & (EPOLLERR | EPOLLHUP)) {
        // Not an eventfd that the guest writes (a pipe whose writer is
        // gone): level-triggered, it would report this forever.
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
    log_message(NVH_LOG_DBG, "vring %u kicked, avail index still %u as at "
                "start", index, vq.start_avail_idx());
    if (++kicks_ < kKicksForVerdict) {
        return;
    }
    not_shared_ = true;
    unwatch_all();
    listener_.on_memory_not_shared(index, kicks_);
}

}  // namespace nvh
