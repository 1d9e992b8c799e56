// virtqueue.cpp: vring configuration (control plane) and the publish/notify
// step shared by the data-path bursts.
#include "virtqueue.h"

#include <unistd.h>

#include <cerrno>

#include "virtio_spec.h"

namespace nvh {

Status Virtqueue::set_num(uint32_t num) {
    // virtio 1.2, 2.7: Queue Size is a power of 2, at most 32768.
    if (num == 0 || num > kMaxQueueSize || (num & (num - 1)) != 0) {
        return Error{EINVAL, "vring size not a power of two in 1..32768"};
    }
    num_ = num;
    return Status::Ok();
}

void Virtqueue::set_addresses(const VringAddresses& addresses) {
    addresses_ = addresses;
}

void Virtqueue::set_base(uint32_t base) { base_ = base; }

uint32_t Virtqueue::base() const {
    return started_ ? ring_.last_avail_idx() : base_;
}

void Virtqueue::set_kick_fd(UniqueFd fd) { kick_fd_ = std::move(fd); }
void Virtqueue::set_call_fd(UniqueFd fd) { call_fd_ = std::move(fd); }
void Virtqueue::set_err_fd(UniqueFd fd) { err_fd_ = std::move(fd); }
void Virtqueue::set_enabled(bool enabled) { enabled_ = enabled; }

Status Virtqueue::start(const GuestMemory& memory, uint64_t features) {
    stop();
    if (num_ == 0) {
        return Error{EINVAL, "vring size not set"};
    }
    uint8_t* desc = memory.uva_to_host(addresses_.desc_user_addr,
                                       virtio::split_desc_bytes(num_));
    uint8_t* avail = memory.uva_to_host(addresses_.avail_user_addr,
                                        virtio::split_avail_bytes(num_));
    uint8_t* used = memory.uva_to_host(addresses_.used_user_addr,
                                       virtio::split_used_bytes(num_));
    if (desc == nullptr || avail == nullptr || used == nullptr) {
        return Error{EFAULT, "vring not inside guest memory"};
    }
    // virtio 1.2, 2.7 (table "Virtqueue Part Alignment"): descriptor table
    // 16, available ring 2, used ring 4.  The host addresses must be aligned
    // as well, for the atomic accesses to indexes and descriptors.
    auto misaligned = [](uint64_t uva, const uint8_t* host, uint64_t align) {
        return (uva & (align - 1)) != 0 ||
               (reinterpret_cast<uintptr_t>(host) & (align - 1)) != 0;
    };
    if (misaligned(addresses_.desc_user_addr, desc, 16) ||
        misaligned(addresses_.avail_user_addr, avail, 2) ||
        misaligned(addresses_.used_user_addr, used, 4)) {
        return Error{EINVAL, "vring part misaligned"};
    }
    header_len_ = virtio::net_header_len(features);
    mrg_rxbuf_ = virtio::has(features, virtio::kNetFMrgRxbuf);
    features_ = features;
    // The used index continues from base (see SplitRing::attach).
    ring_.attach(&memory, num_, desc, avail, used, static_cast<uint16_t>(base_),
                 features);
    // The data path polls: ask the driver not to kick (virtio 1.2, 2.7.10,
    // VIRTQ_USED_F_NO_NOTIFY is only a hint, so kicks may still come).
    ring_.set_used_flags(virtio::kUsedFNoNotify);
    started_ = true;
    return Status::Ok();
}

void Virtqueue::stop() {
    if (started_) {
        base_ = ring_.last_avail_idx();
        ring_.detach();
        started_ = false;
    }
}

void Virtqueue::reset() {
    stop();
    num_ = 0;
    addresses_ = VringAddresses{};
    base_ = 0;
    enabled_ = false;
    kick_fd_.reset();
    call_fd_.reset();
    err_fd_.reset();
    header_len_ = 0;
    mrg_rxbuf_ = false;
}

bool Virtqueue::publish_and_notify() {
    uint16_t old_idx = ring_.last_used_idx();
    if (ring_.publish_used() == 0) {
        return false;
    }
    if (!call_fd_.valid() ||
        !ring_.driver_wants_interrupt(old_idx, ring_.last_used_idx())) {
        return false;
    }
    // The one system call of the data path.  A full eventfd counter
    // (EAGAIN) still means the guest has an interrupt pending.
    uint64_t one = 1;
    ssize_t r = ::write(call_fd_.get(), &one, sizeof one);
    (void)r;
    VringCounters::add(counters_.guest_notifications, 1);
    return true;
}

}  // namespace nvh
