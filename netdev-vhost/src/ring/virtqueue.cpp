// SPDX-License-Identifier: Apache-2.0
// virtqueue.cpp: vring configuration (control plane) and the publish/notify
// step shared by the data-path bursts.
#include "ring/virtqueue.h"

#include <unistd.h>

#include <cerrno>

#include "memory/guest_access.h"
#include "base/log.h"
#include "base/virtio_spec.h"

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
    if (!started_) {
        return base_;
    }
    return packed_mode_ ? packed_.base().encode() : split_.last_avail_idx();
}

void Virtqueue::set_kick_fd(UniqueFd fd) { kick_fd_ = std::move(fd); }
void Virtqueue::set_call_fd(UniqueFd fd) { call_.set_fd(std::move(fd)); }
void Virtqueue::set_err_fd(UniqueFd fd) { err_fd_ = std::move(fd); }
void Virtqueue::set_enabled(bool enabled) { enabled_ = enabled; }

Status Virtqueue::start(const GuestMemory& memory, uint64_t features) {
    stop();
    broken_counted_ = false;
    if (num_ == 0) {
        return Error{EINVAL, "vring size not set"};
    }
    if (virtio::has(features, virtio::kFRingPacked)) {
        return start_packed(memory, features);
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
    write_log_.set_memory(&memory);
    // The used index continues from base (see SplitRing::attach), which
    // must be where the ring's used index stands: every chain before it was
    // returned.  A frontend that outlived its backend may say otherwise: DPDK's
    // virtio_user sends SET_VRING_BASE 0 whatever its ring's position when a
    // new backend connects.  Then, as DPDK's vhost library does, the used
    // index in guest memory wins (chains an earlier backend took without
    // returning them are processed again); trusting base would re-send old
    // frames and write used entries the driver has long consumed.
    uint16_t base = static_cast<uint16_t>(base_);
    const uint16_t used_idx = guest_load<uint16_t>(used + 2, std::memory_order_acquire);
    if (used_idx != base) {
        log_message(NVH_LOG_WARN, "vring base %u differs from the ring's used "
                    "index %u: resuming at %u", base, used_idx, used_idx);
        base = used_idx;
    }
    split_.attach(&memory, num_, desc, avail, used, base, features, &write_log_);
    // The data path polls: ask the driver not to kick (virtio 1.2, 2.7.10,
    // VIRTQ_USED_F_NO_NOTIFY is only a hint, so kicks may still come).
    split_.set_used_flags(virtio::kUsedFNoNotify);
    started_ = true;
    return Status::Ok();
}

Status Virtqueue::start_packed(const GuestMemory& memory, uint64_t features) {
    // Packed ring areas (virtio 1.2, 2.8.10 / 2.8.13), in the vhost-user
    // address fields: descriptor ring = desc, driver event suppression =
    // avail, device event suppression = used (as DPDK and QEMU place them).
    uint8_t* desc = memory.uva_to_host(addresses_.desc_user_addr, packed_desc_bytes(num_));
    uint8_t* driver_event = memory.uva_to_host(addresses_.avail_user_addr, kPackedEventBytes);
    uint8_t* device_event = memory.uva_to_host(addresses_.used_user_addr, kPackedEventBytes);
    if (desc == nullptr || driver_event == nullptr || device_event == nullptr) {
        return Error{EFAULT, "vring not inside guest memory"};
    }
    // virtio 1.2, 2.8.10.1 alignment: descriptor ring 16, event
    // suppression areas 4 (host addresses too, for the atomic accesses).
    auto misaligned = [](uint64_t uva, const uint8_t* host, uint64_t align) {
        return (uva & (align - 1)) != 0 ||
               (reinterpret_cast<uintptr_t>(host) & (align - 1)) != 0;
    };
    if (misaligned(addresses_.desc_user_addr, desc, 16) ||
        misaligned(addresses_.avail_user_addr, driver_event, 4) ||
        misaligned(addresses_.used_user_addr, device_event, 4)) {
        return Error{EINVAL, "vring part misaligned"};
    }
    // vhost-user.rst, packed virtqueue indices: bits 0-15 avail index and
    // wrap counter, bits 16-31 used index and wrap counter.  DPDK's
    // virtio_user sends bits 0-15 only (its rings start at 0x8000: index 0,
    // wrap counter 1), QEMU sends both halves.  Zero upper bits therefore
    // mean "used = avail".  Chains are returned within the burst that takes
    // them, so this backend never has buffers in flight at a stop: a base
    // whose used position differs from its avail position describes buffers
    // that some other backend still held, which nothing here could return.
    PackedBase base = PackedBase::decode(base_);
    if ((base_ >> 16) == 0) {
        base.used_idx = base.avail_idx;
        base.used_wrap = base.avail_wrap;
    }
    if (base.avail_idx >= num_ || base.used_idx != base.avail_idx ||
        base.used_wrap != base.avail_wrap) {
        return Error{EINVAL, "packed vring base out of range or with buffers in flight"};
    }
    header_len_ = virtio::net_header_len(features);
    mrg_rxbuf_ = virtio::has(features, virtio::kNetFMrgRxbuf);
    features_ = features;
    write_log_.set_memory(&memory);
    packed_.attach(&memory, num_, desc, driver_event, device_event, base, features,
                   &write_log_);
    packed_mode_ = true;
    started_ = true;
    return Status::Ok();
}

void Virtqueue::stop() {
    if (started_) {
        if (packed_mode_) {
            base_ = packed_.base().encode();
            packed_.detach();
            packed_mode_ = false;
        } else {
            base_ = split_.last_avail_idx();
            split_.detach();
        }
        write_log_.set_memory(nullptr);
        started_ = false;
    }
}

void Virtqueue::reset() {
    stop();
    num_ = 0;
    addresses_ = VringAddresses{};
    base_ = 0;
    enabled_ = false;
    write_log_.set_log(nullptr);
    kick_fd_.reset();
    call_.set_fd(UniqueFd());
    err_fd_.reset();
    header_len_ = 0;
    mrg_rxbuf_ = false;
}

bool Virtqueue::publish_and_notify() {
    if (packed_mode_) {
        // virtio 1.2, 2.8.10: the driver's event suppression decides.
        if (packed_.publish_used() == 0 || !call_.armed() ||
            !packed_.driver_wants_interrupt()) {
            return false;
        }
        return signal_guest();
    }
    uint16_t old_idx = split_.last_used_idx();
    if (split_.publish_used() == 0) {
        return false;
    }
    if (!call_.armed() ||
        !split_.driver_wants_interrupt(old_idx, split_.last_used_idx())) {
        return false;
    }
    return signal_guest();
}

bool Virtqueue::signal_guest() {
    // The call eventfd is written by the notifier thread, never here: the
    // frontend can make that write block (docs/security.md, "call fd that
    // blocks").  guest_notifications is counted there, once delivered.
    call_.request();
    return true;
}

}  // namespace nvh
