// SPDX-License-Identifier: Apache-2.0
// packed_ring_driver.cpp: driver side of a packed virtqueue, for tests.
#include "frontend/packed_ring_driver.h"

#include <algorithm>
#include <cstring>

#include "frontend/failure.h"
#include "frontend/ring_driver_common.h"

namespace nvh::test {
namespace {

using ring_driver::load_acquire;
using ring_driver::store_release;

void fail(const char* what) { report_failure("packed_ring_driver", what); }

}  // namespace

PackedRingDriver::PackedRingDriver(GuestMemoryFixture& mem, uint16_t num,
                                   uint32_t buffer_size)
    : mem_(mem), num_(num == 0 ? 1 : num), buffer_size_(buffer_size), free_slots_(num_) {
    if (num == 0 || (num & (num - 1)) != 0) {
        fail("queue size must be a power of two");
    }
    desc_gpa_ = mem_.alloc(16 * uint64_t{num_}, 4096);
    driver_event_gpa_ = mem_.alloc(4, 64);
    device_event_gpa_ = mem_.alloc(4, 64);
    pool_ = mem_.alloc(uint64_t{num_} * buffer_size, 4096);
    id_slots_.resize(num_);
    id_segs_.resize(num_);
    for (uint64_t gpa : {desc_gpa_, driver_event_gpa_, device_event_gpa_, pool_}) {
        if (gpa == GuestMemoryFixture::kNoAddress) {
            // Reported by alloc: the ring lives in scratch memory the
            // device never sees, and no chain can be added.
            scratch_.assign(16 * size_t{num_}, 0);
            free_slots_ = 0;
            return;
        }
    }
    for (int i = num_ - 1; i >= 0; i--) {
        free_ids_.push_back(static_cast<uint16_t>(i));
    }
}

uint8_t* PackedRingDriver::host(uint64_t gpa, size_t off) const {
    if (!scratch_.empty()) {
        return const_cast<uint8_t*>(scratch_.data()) + off % scratch_.size();
    }
    return mem_.host(gpa) + off;
}

VringAddresses PackedRingDriver::addresses() const {
    return ring_driver::ring_addresses(mem_, desc_gpa_, driver_event_gpa_, device_event_gpa_);
}

bool PackedRingDriver::configure(Virtqueue& vq, uint32_t base) const {
    return ring_driver::configure(vq, num_, addresses(), base);
}

int PackedRingDriver::alloc_id() {
    if (free_ids_.empty()) {
        return -1;
    }
    uint16_t id = free_ids_.back();
    free_ids_.pop_back();
    return id;
}

int PackedRingDriver::link_chain(std::span<const Segment> segments, bool indirect_table,
                                 uint64_t table) {
    size_t n = indirect_table ? 1 : segments.size();
    if (n == 0 || n > free_slots_) {
        return -1;
    }
    int id = alloc_id();
    if (id < 0) {
        return -1;
    }
    uint8_t* ring = host(desc_gpa_, 0);
    uint16_t head = next_avail_;
    uint16_t head_flags = 0;
    for (size_t i = 0; i < n; i++) {
        bool last = i + 1 == n;
        virtio::PackedDesc d{};
        if (indirect_table) {
            d.addr = table;
            d.len = static_cast<uint32_t>(16 * segments.size());
            d.flags = virtio::kDescFIndirect;
        } else {
            d.addr = segments[i].gpa;
            d.len = segments[i].len;
            d.flags = static_cast<uint16_t>((last ? 0 : virtio::kDescFNext) |
                                            (segments[i].writable ? virtio::kDescFWrite : 0));
        }
        d.id = static_cast<uint16_t>(id);
        // virtio 1.2, 2.8.1: AVAIL = wrap counter, USED = !wrap counter.
        d.flags |= avail_wrap_ ? virtio::kPackedDescFAvail : virtio::kPackedDescFUsed;
        uint8_t* slot = ring + 16 * size_t(next_avail_);
        if (i == 0) {
            head_flags = d.flags;
            d.flags = static_cast<uint16_t>(d.flags ^ (virtio::kPackedDescFAvail |
                                                       virtio::kPackedDescFUsed));
        }
        std::memcpy(slot, &d, sizeof d);
        if (++next_avail_ == num_) {
            next_avail_ = 0;
            avail_wrap_ = !avail_wrap_;
        }
    }
    id_slots_[id] = static_cast<uint16_t>(n);
    id_segs_[id].assign(segments.begin(), segments.end());
    avail_order_.push_back(static_cast<uint16_t>(id));
    free_slots_ = static_cast<uint16_t>(free_slots_ - n);
    store_release<uint16_t>(ring + 16 * size_t(head) + 14, head_flags);
    return id;
}

int PackedRingDriver::add_chain(std::span<const Segment> segments) {
    return link_chain(segments, false, 0);
}

int PackedRingDriver::add_tx(std::span<const uint8_t> header, std::span<const uint8_t> frame,
                             std::span<const uint32_t> split) {
    std::vector<uint8_t> bytes = ring_driver::join(header, frame);
    std::vector<uint32_t> sizes = ring_driver::piece_sizes(bytes.size(), split);
    if (sizes.size() > free_slots_) {
        return -1;
    }
    if (!fits_pool(sizes, "add_tx: piece larger than buffer_size")) {
        return -1;
    }
    std::vector<Segment> segs;
    size_t off = 0;
    uint16_t slot = next_avail_;
    for (uint32_t s : sizes) {
        segs.push_back({pool_buffer(slot), s, false});
        mem_.write(pool_buffer(slot), std::span<const uint8_t>(bytes).subspan(off, s));
        off += s;
        slot = static_cast<uint16_t>((slot + 1) % num_);
    }
    return add_chain(segs);
}

bool PackedRingDriver::fits_pool(std::span<const uint32_t> sizes, const char* what) const {
    return ring_driver::fit_pool(sizes, buffer_size_, "packed_ring_driver", what);
}

int PackedRingDriver::add_rx(std::span<const uint32_t> sizes) {
    if (sizes.empty() || sizes.size() > free_slots_) {
        return -1;
    }
    if (!fits_pool(sizes, "add_rx: buffer larger than buffer_size")) {
        return -1;
    }
    std::vector<Segment> segs;
    uint16_t slot = next_avail_;
    for (uint32_t s : sizes) {
        segs.push_back({pool_buffer(slot), s, true});
        slot = static_cast<uint16_t>((slot + 1) % num_);
    }
    return add_chain(segs);
}

int PackedRingDriver::add_indirect(std::span<const Segment> segments) {
    if (segments.empty()) {
        return -1;
    }
    uint64_t table = mem_.alloc(16 * segments.size(), 16);
    if (table == GuestMemoryFixture::kNoAddress) {
        return -1;
    }
    for (size_t i = 0; i < segments.size(); i++) {
        virtio::PackedDesc d{};
        d.addr = segments[i].gpa;
        d.len = segments[i].len;
        d.flags = segments[i].writable ? virtio::kDescFWrite : 0;
        mem_.write(table + 16 * i,
                   std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&d), sizeof d));
    }
    return link_chain(segments, true, table);
}

bool PackedRingDriver::add_raw(std::span<const virtio::PackedDesc> descs) {
    if (descs.empty() || descs.size() > free_slots_) {
        fail("add_raw: no room");
        return false;
    }
    uint8_t* ring = host(desc_gpa_, 0);
    uint16_t head = next_avail_;
    uint16_t head_flags = 0;
    for (size_t i = 0; i < descs.size(); i++) {
        virtio::PackedDesc d = descs[i];
        d.flags &= static_cast<uint16_t>(~(virtio::kPackedDescFAvail | virtio::kPackedDescFUsed));
        d.flags |= avail_wrap_ ? virtio::kPackedDescFAvail : virtio::kPackedDescFUsed;
        if (i == 0) {
            head_flags = d.flags;
            d.flags = static_cast<uint16_t>(d.flags ^ (virtio::kPackedDescFAvail |
                                                       virtio::kPackedDescFUsed));
        }
        std::memcpy(ring + 16 * size_t(next_avail_), &d, sizeof d);
        if (++next_avail_ == num_) {
            next_avail_ = 0;
            avail_wrap_ = !avail_wrap_;
        }
    }
    uint16_t id = descs.back().id;
    if (id < num_) {
        // Take the id out of the free list, if it is there.
        for (size_t i = 0; i < free_ids_.size(); i++) {
            if (free_ids_[i] == id) {
                free_ids_.erase(free_ids_.begin() + static_cast<long>(i));
                break;
            }
        }
        id_slots_[id] = static_cast<uint16_t>(descs.size());
        id_segs_[id].clear();
        avail_order_.push_back(id);
    }
    free_slots_ = static_cast<uint16_t>(free_slots_ - descs.size());
    store_release<uint16_t>(ring + 16 * size_t(head) + 14, head_flags);
    return true;
}

std::optional<PackedRingDriver::Used> PackedRingDriver::pop_used() {
    uint8_t* slot = host(desc_gpa_, 16 * size_t(next_used_));
    uint16_t flags = load_acquire<uint16_t>(slot + 14);
    bool avail = (flags & virtio::kPackedDescFAvail) != 0;
    bool used = (flags & virtio::kPackedDescFUsed) != 0;
    if (avail != used_wrap_ || used != used_wrap_) {
        return std::nullopt;
    }
    Used u;
    std::memcpy(&u.len, slot + 8, 4);
    std::memcpy(&u.id, slot + 12, 2);
    u.flags = flags;
    if (u.id >= num_ || id_slots_[u.id] == 0) {
        fail("pop_used: device returned an id that is not outstanding");
        return std::nullopt;
    }
    u.segments = id_segs_[u.id];
    release(u.id);
    return u;
}

std::vector<PackedRingDriver::Used> PackedRingDriver::pop_used_in_order() {
    std::vector<Used> batch;
    std::optional<Used> last;
    {
        uint8_t* slot = host(desc_gpa_, 16 * size_t(next_used_));
        uint16_t flags = load_acquire<uint16_t>(slot + 14);
        bool avail = (flags & virtio::kPackedDescFAvail) != 0;
        bool used = (flags & virtio::kPackedDescFUsed) != 0;
        if (avail != used_wrap_ || used != used_wrap_) {
            return batch;
        }
        last.emplace();
        std::memcpy(&last->len, slot + 8, 4);
        std::memcpy(&last->id, slot + 12, 2);
        last->flags = flags;
    }
    if (last->id >= num_ || id_slots_[last->id] == 0) {
        fail("pop_used_in_order: device returned an id that is not outstanding");
        return batch;
    }
    for (;;) {
        uint16_t id = avail_order_.front();
        Used u = id == last->id ? *last : Used{id, 0, 0, {}};
        u.segments = id_segs_[id];
        release(id);
        batch.push_back(std::move(u));
        if (id == last->id) {
            return batch;
        }
    }
}

void PackedRingDriver::release(uint16_t id) {
    for (auto it = avail_order_.begin(); it != avail_order_.end(); ++it) {
        if (*it == id) {
            avail_order_.erase(it);
            break;
        }
    }
    uint16_t n = id_slots_[id];
    id_slots_[id] = 0;
    free_ids_.push_back(id);
    free_slots_ = static_cast<uint16_t>(free_slots_ + n);
    uint32_t next = uint32_t{next_used_} + n;
    if (next >= num_) {
        next -= num_;
        used_wrap_ = !used_wrap_;
    }
    next_used_ = static_cast<uint16_t>(next);
}

uint16_t PackedRingDriver::slot_flags(uint16_t slot) const {
    return load_acquire<uint16_t>(host(desc_gpa_, 16 * size_t(slot % num_) + 14));
}

std::vector<uint8_t> PackedRingDriver::read_used(const Used& used) const {
    return ring_driver::read_written(mem_, std::span<const Segment>(used.segments), used.len);
}

void PackedRingDriver::set_driver_event(uint16_t flags, uint16_t off_wrap) {
    uint8_t* p = host(driver_event_gpa_, 0);
    store_release<uint16_t>(p, off_wrap);
    store_release<uint16_t>(p + 2, flags);
}

uint16_t PackedRingDriver::device_event_flags() const {
    return load_acquire<uint16_t>(host(device_event_gpa_, 2));
}

}  // namespace nvh::test
