// SPDX-License-Identifier: Apache-2.0
// split_ring.cpp: device side of a split virtqueue (virtio 1.2, 2.7).
#include "ring/split_ring.h"

#include "memory/guest_access.h"

namespace nvh {
namespace {

// Ring layout offsets (virtio 1.2, 2.7.6 and 2.7.8).
constexpr size_t kAvailFlags = 0;
constexpr size_t kAvailIdx = 2;
constexpr size_t kAvailRing = 4;
constexpr size_t kUsedFlags = 0;
constexpr size_t kUsedIdx = 2;
constexpr size_t kUsedRing = 4;

// One descriptor (virtio 1.2, 2.7.5, struct virtq_desc), read once.
virtio::SplitDesc read_desc(const uint8_t* p) { return read_desc_as<virtio::SplitDesc>(p); }

}  // namespace

// ---- SplitRing --------------------------------------------------------------

void SplitRing::attach(const GuestMemory* memory, uint32_t num, uint8_t* desc,
                       uint8_t* avail, uint8_t* used, uint16_t base,
                       uint64_t features, const WriteLog* log) {
    attach_to(memory, num, features, log);
    desc_ = desc;
    avail_ = avail;
    used_ = used;
    // vhost-user: SET_VRING_BASE gives the next avail index; the device's
    // used index continues from the same value (as in DPDK's vhost library:
    // every chain before `base` has been returned).
    last_avail_idx_ = base;
    last_used_idx_ = base;
    pending_used_ = 0;
    last_burst_ = 0;
    if (event_idx_) {
        avail_event_ = static_cast<uint16_t>(last_avail_idx_ - 1);
        store_used16(kUsedRing + 8 * size_t(num_), avail_event_, std::memory_order_relaxed);
    }
}

void SplitRing::store_used16(size_t offset, uint16_t v, std::memory_order order) {
    guest_store<uint16_t>(used_ + offset, v, order);
    log_->note(used_ + offset, sizeof v);
}

void SplitRing::quiet_driver() {
    if (static_cast<uint16_t>(last_avail_idx_ - 1 - avail_event_) >= kQuietRefresh) {
        avail_event_ = static_cast<uint16_t>(last_avail_idx_ - 1);
        // used->ring[num] is avail_event (virtio 1.2, 2.7.8).  Relaxed: a
        // late store only means a kick the data path ignores.
        store_used16(kUsedRing + 8 * size_t(num_), avail_event_, std::memory_order_relaxed);
    }
}

uint16_t SplitRing::avail_event() const {
    return guest_load<uint16_t>(used_ + kUsedRing + 8 * size_t(num_),
                          std::memory_order_relaxed);
}

void SplitRing::detach() {
    detach_from_memory();
    desc_ = avail_ = used_ = nullptr;
    pending_used_ = 0;
}

uint16_t SplitRing::avail_count() {
    if (broken_) {
        return 0;
    }
    // Acquire: the ring entries and descriptors the driver wrote before
    // updating idx are visible after this load (virtio 1.2, 2.7.13.3).
    uint16_t idx = guest_load<uint16_t>(avail_ + kAvailIdx, std::memory_order_acquire);
    uint16_t count = static_cast<uint16_t>(idx - last_avail_idx_);
    // virtio 1.2, 2.7.6: idx counts the chains the driver made available;
    // at most the queue size can be outstanding, so a larger jump means the
    // ring is corrupt.
    if (count > num_) {
        broken_ = true;
        return 0;
    }
    if (event_idx_) {
        quiet_driver();
    }
    return count;
}

void SplitRing::prefetch_burst(uint16_t first, uint16_t count) const {
    if (count == 0) {
        return;
    }
    const uint16_t used = static_cast<uint16_t>(last_used_idx_ + pending_used_ + first);
    for (uint16_t i = 0; i < count; i += kCacheLine / 8) {
        prefetch_for_write(used_ + kUsedRing + 8 * size_t((used + i) & (num_ - 1)));
    }
    // The last entry may start a line the loop above skipped.
    prefetch_for_write(used_ + kUsedRing + 8 * size_t((used + count - 1) & (num_ - 1)));
    const uint16_t avail = static_cast<uint16_t>(last_avail_idx_ + first);
    for (uint16_t i = 0; i < count; i++) {
        const uint16_t head = guest_load<uint16_t>(
            avail_ + kAvailRing + 2 * size_t((avail + i) & (num_ - 1)),
            std::memory_order_relaxed);
        prefetch_for_read(desc_ + 16 * size_t(head & (num_ - 1)));
    }
}

void SplitRing::prefetch_next_burst(uint16_t count) const {
    prefetch_for_read(avail_ + kAvailIdx);
    prefetch_burst(0, count);
}

bool SplitRing::take_batch(ChainBatch* batch) {
    for (uint16_t i = 0; i < ChainBatch::kSize; i++) {
        const uint16_t head = guest_load<uint16_t>(
            avail_ + kAvailRing + 2 * size_t((last_avail_idx_ + i) & (num_ - 1)),
            std::memory_order_relaxed);
        // virtio 1.2, 2.7.6: heads index the descriptor table.
        if (head >= num_) {
            return false;
        }
        const virtio::SplitDesc d = read_desc(desc_ + 16 * size_t(head));
        if ((d.flags & (virtio::kDescFNext | virtio::kDescFIndirect)) != 0) {
            return false;
        }
        batch->ids[i] = head;
        batch->buffers[i] = buffer_of(d);
    }
    last_avail_idx_ = static_cast<uint16_t>(last_avail_idx_ + ChainBatch::kSize);
    return true;
}

virtio::SplitDesc SplitRing::head_desc(uint16_t head) const {
    return read_desc(desc_ + 16 * size_t(head));
}

uint16_t SplitRing::take_head() {
    const uint8_t* slot =
        avail_ + kAvailRing + 2 * size_t(last_avail_idx_ & (num_ - 1));
    last_avail_idx_++;
    return guest_load<uint16_t>(slot, std::memory_order_relaxed);
}

void SplitRing::put_used(uint32_t id, uint32_t len) {
    uint16_t idx = static_cast<uint16_t>(last_used_idx_ + pending_used_);
    uint8_t* elem = used_ + kUsedRing + 8 * size_t(idx & (num_ - 1));
    // virtio 1.2, 2.7.8.2: len is the number of bytes written, set before
    // idx is updated (the release store in publish_used orders it).
    guest_store<uint32_t>(elem, id, std::memory_order_relaxed);
    guest_store<uint32_t>(elem + 4, len, std::memory_order_relaxed);
    log_->note(elem, 8);
    pending_used_++;
}

uint16_t SplitRing::publish_used() {
    uint16_t n = pending_used_;
    if (n == 0) {
        return 0;
    }
    last_used_idx_ = static_cast<uint16_t>(last_used_idx_ + n);
    pending_used_ = 0;
    // Release: the used elements and the buffer contents are visible to the
    // driver before it sees the new idx (virtio 1.2, 2.7.8.2).
    store_used16(kUsedIdx, last_used_idx_, std::memory_order_release);
    return n;
}

bool SplitRing::driver_wants_interrupt(uint16_t old_idx, uint16_t new_idx) const {
    // The used->idx store must be ordered before reading the driver's
    // suppression state, or an interrupt can be lost (virtio 1.2, 2.7.7).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (event_idx_) {
        // virtio 1.2, 2.7.7.2 with VIRTIO_F_EVENT_IDX: interrupt when the
        // used index moved past used_event (avail->ring[num]), i.e. when
        // used_event is in [old_idx, new_idx) modulo 2^16 (vring_need_event
        // in the spec's example code).  All arithmetic is on uint16_t, so it
        // is exact across the wrap from 65535 to 0; old != new here, and
        // new - old <= queue size < 65536.
        uint16_t event = guest_load<uint16_t>(avail_ + kAvailRing + 2 * size_t(num_),
                                        std::memory_order_relaxed);
        return static_cast<uint16_t>(new_idx - event - 1) <
               static_cast<uint16_t>(new_idx - old_idx);
    }
    // virtio 1.2, 2.7.7.2 without EVENT_IDX: if flags has
    // VIRTQ_AVAIL_F_NO_INTERRUPT the device SHOULD NOT send a notification.
    uint16_t flags = guest_load<uint16_t>(avail_ + kAvailFlags, std::memory_order_relaxed);
    return (flags & virtio::kAvailFNoInterrupt) == 0;
}

void SplitRing::set_used_flags(uint16_t flags) {
    store_used16(kUsedFlags, flags, std::memory_order_relaxed);
}

// ---- ChainWalker ------------------------------------------------------------

ChainWalker::ChainWalker(const SplitRing& ring, uint16_t head)
    : ring_(ring),
      table_(ring.desc_),
      table_size_(ring.num_),
      idx_(head),
      ttl_(ring.num_) {
    // virtio 1.2, 2.7.6: ring[] entries are heads of chains in the
    // descriptor table, so they are below the queue size.
    if (head >= ring.num_) {
        fail("avail ring entry out of range");
    }
}

ChainWalker::ChainWalker(const SplitRing& ring, uint16_t head, const virtio::SplitDesc& first)
    : ChainWalker(ring, head) {
    first_ = first;
    have_first_ = true;
}

// A descriptor with INDIRECT: checks it and moves the walk to the first
// entry of its table.  False (the walk failed) if it breaks a rule.
bool ChainWalker::enter_indirect(const virtio::SplitDesc& d) {
    // virtio 1.2, 2.7.5.3.1: the driver MUST NOT set INDIRECT unless
    // VIRTIO_F_INDIRECT_DESC was negotiated.
    if (!ring_.indirect_) {
        return fail_step("indirect descriptor without VIRTIO_F_INDIRECT_DESC");
    }
    // virtio 1.2, 2.7.5.3.1: an indirect table holds no indirect descriptor.
    if (indirect_) {
        return fail_step("nested indirect descriptor");
    }
    // virtio 1.2, 2.7.5.3.1: INDIRECT and NEXT never together.
    if (d.flags & virtio::kDescFNext) {
        return fail_step("indirect descriptor with NEXT");
    }
    // virtio 1.2, 2.7.5.3: the table is len/16 descriptors, and (2.7.5.3.1)
    // a chain is at most Queue Size long.
    if (d.len == 0 || d.len % 16 != 0 || d.len / 16 > ring_.num_) {
        return fail_step("indirect table length invalid");
    }
    // The table is read as one array: it must be contiguous in host memory,
    // i.e. inside one region.
    const uint8_t* t = ring_.memory_->gpa_to_host(d.addr, d.len);
    if (t == nullptr) {
        return fail_step("indirect table not in guest memory");
    }
    // virtio 1.2, 2.7.5.3.2: the device ignores WRITE on the descriptor that
    // refers to the table; the chain continues at the table's first entry.
    table_ = t;
    table_size_ = d.len / 16;
    idx_ = 0;
    ttl_ = table_size_;
    indirect_ = true;
    return true;
}

WalkStep ChainWalker::next(DescBuffer* out) {
    if (done_) {
        return error_[0] ? WalkStep::kInvalid : WalkStep::kEnd;
    }
    for (;;) {
        // virtio 1.2, 2.7.5.2: loops are forbidden and (2.7.5.3.1) a chain is
        // at most Queue Size long; per table, more than its size of
        // descriptors can only be a loop.
        if (ttl_ == 0) {
            return fail("descriptor chain longer than its table (loop)");
        }
        ttl_--;
        virtio::SplitDesc d;
        if (have_first_) {
            d = first_;   // The head, read by the caller.
            have_first_ = false;
        } else {
            d = read_desc(table_ + 16 * size_t(idx_));
        }
        reads_++;

        if (d.flags & virtio::kDescFIndirect) {
            if (!enter_indirect(d)) {
                return WalkStep::kInvalid;
            }
            continue;
        }

        // Implementation limit on top of virtio 1.2, 2.7.5.3.1 (see
        // kMaxChainBuffers): a longer chain is treated as invalid.
        if (buffers_left_ == 0) {
            return fail("descriptor chain longer than 256 buffers");
        }
        buffers_left_--;

        if (d.flags & virtio::kDescFNext) {
            // virtio 1.2, 2.7.5: next indexes the same table.
            if (d.next >= table_size_) {
                return fail("descriptor next out of range");
            }
            idx_ = d.next;
        } else {
            done_ = true;
        }
        out->addr = d.addr;
        out->len = d.len;
        out->writable = (d.flags & virtio::kDescFWrite) != 0;
        return WalkStep::kBuffer;
    }
}

}  // namespace nvh
