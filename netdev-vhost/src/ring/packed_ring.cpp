// SPDX-License-Identifier: Apache-2.0
// packed_ring.cpp: device side of a packed virtqueue (virtio 1.2, 2.8).
#include "ring/packed_ring.h"

#include "memory/guest_access.h"

namespace nvh {
namespace {

// Descriptor layout (virtio 1.2, 2.8.13, struct pvirtq_desc).
constexpr size_t kDescLen = 8;
constexpr size_t kDescId = 12;
constexpr size_t kDescFlags = 14;
// Event suppression layout (virtio 1.2, 2.8.10, struct pvirtq_event_suppress).
constexpr size_t kEventOffWrap = 0;
constexpr size_t kEventFlags = 2;

// One descriptor (virtio 1.2, 2.8.13, struct pvirtq_desc), read once:
// ring slots are 16-byte aligned, indirect tables may not be 8-byte aligned
// in host memory (read_desc_words).
virtio::PackedDesc read_desc(const uint8_t* p) { return read_desc_as<virtio::PackedDesc>(p); }

}  // namespace

// ---- PackedRing ---------------------------------------------------------------

void PackedRing::attach(const GuestMemory* memory, uint32_t num, uint8_t* desc,
                        uint8_t* driver_event, uint8_t* device_event,
                        PackedBase base, uint64_t features, const WriteLog* log) {
    attach_to(memory, num, features, log);
    desc_ = desc;
    driver_event_ = driver_event;
    device_event_ = device_event;
    avail_ = {base.avail_idx, base.avail_wrap};
    used_ = {base.used_idx, base.used_wrap};
    published_from_ = published_to_ = used_;
    pending_ = 0;
    // The data path polls: the driver need not notify (virtio 1.2, 2.8.10,
    // device event suppression flags = RING_EVENT_FLAGS_DISABLE).
    guest_store<uint16_t>(device_event_ + kEventOffWrap, 0, std::memory_order_relaxed);
    guest_store<uint16_t>(device_event_ + kEventFlags, kPackedEventDisable,
                    std::memory_order_relaxed);
    log_->note(device_event_, kPackedEventBytes);
}

void PackedRing::detach() {
    detach_from_memory();
    desc_ = driver_event_ = device_event_ = nullptr;
    pending_ = 0;
}

bool PackedRing::head_available() const {
    if (broken_) {
        return false;
    }
    // virtio 1.2, 2.8.1: available when AVAIL matches the driver's wrap
    // counter and USED does not.  Acquire: the chain's other descriptors,
    // written before this flags store (2.8.21.1), are visible after it.
    uint16_t flags = guest_load<uint16_t>(desc_ + 16 * size_t(avail_.idx) + kDescFlags,
                                    std::memory_order_acquire);
    bool avail = (flags & virtio::kPackedDescFAvail) != 0;
    bool used = (flags & virtio::kPackedDescFUsed) != 0;
    return avail == avail_.wrap && used != avail_.wrap;
}

bool PackedRing::take_batch(ChainBatch* batch) {
    constexpr uint16_t kSize = ChainBatch::kSize;
    if (broken_ || avail_.idx % kSize != 0 || uint32_t{avail_.idx} + kSize > num_) {
        return false;
    }
    const uint8_t* first = desc_ + 16 * size_t(avail_.idx);
    uint16_t flags[kSize];
    for (uint16_t i = 0; i < kSize; i++) {
        // As head_available(): acquire, so each descriptor's other fields
        // are read after its flags (virtio 1.2, 2.8.21.3).
        flags[i] = guest_load<uint16_t>(first + 16 * size_t(i) + kDescFlags,
                                        std::memory_order_acquire);
    }
    for (uint16_t i = 0; i < kSize; i++) {
        bool avail = (flags[i] & virtio::kPackedDescFAvail) != 0;
        bool used = (flags[i] & virtio::kPackedDescFUsed) != 0;
        if (avail != avail_.wrap || used == avail_.wrap ||
            (flags[i] & (virtio::kDescFNext | virtio::kDescFIndirect)) != 0) {
            return false;
        }
    }
    for (uint16_t i = 0; i < kSize; i++) {
        // The flags checked above decide; the rest of the descriptor is read
        // once here.
        const virtio::PackedDesc d = read_desc(first + 16 * size_t(i));
        // virtio 1.2, 2.8.6: the id names the buffer in the used descriptor
        // and is below the queue size (as PackedChainWalker checks).
        if (d.id >= num_) {
            return false;
        }
        batch->buffers[i] = {d.addr, d.len, (flags[i] & virtio::kDescFWrite) != 0};
        batch->ids[i] = d.id;
    }
    advance(&avail_, kSize);
    return true;
}

void PackedRing::put_used(uint16_t id, uint32_t len, uint16_t count) {
    uint8_t* slot = desc_ + 16 * size_t(used_.idx);
    // virtio 1.2, 2.8.4: a used descriptor has AVAIL and USED both equal to
    // the device's wrap counter; len is the bytes written, meaningful with
    // VIRTQ_DESC_F_WRITE.
    uint16_t flags = used_.wrap ? (virtio::kPackedDescFAvail | virtio::kPackedDescFUsed) : 0;
    if (len > 0) {
        flags |= virtio::kDescFWrite;
    }
    guest_store<uint32_t>(slot + kDescLen, len, std::memory_order_relaxed);
    guest_store<uint16_t>(slot + kDescId, id, std::memory_order_relaxed);
    if (pending_ == 0) {
        batch_start_ = used_;
        batch_flags_ = flags;
    } else {
        // Seen by the driver only after the batch's first flags (release in
        // publish_used): it reads used descriptors in ring order.
        guest_store<uint16_t>(slot + kDescFlags, flags, std::memory_order_relaxed);
    }
    log_->note(slot, 16);
    pending_++;
    // virtio 1.2, 2.8.7: the device skips the rest of the chain's slots.
    advance(&used_, count);
}

void PackedRing::put_used_in_order(uint16_t id, uint16_t count) {
    if (pending_ == 0) {
        put_used(id, 0, count);
        return;
    }
    // The batch's used descriptor now names this buffer: the driver frees
    // every buffer up to it.  Its flags are still unpublished.
    uint8_t* first = desc_ + 16 * size_t(batch_start_.idx);
    guest_store<uint16_t>(first + kDescId, id, std::memory_order_relaxed);
    log_->note(first + kDescId, 2);
    pending_++;
    advance(&used_, count);
}

uint16_t PackedRing::publish_used() {
    uint16_t n = pending_;
    if (n == 0) {
        return 0;
    }
    // Release: buffer contents, ids, lengths and the batch's other flags are
    // visible before the first used descriptor is (virtio 1.2, 2.8.21.2).
    uint8_t* first = desc_ + 16 * size_t(batch_start_.idx);
    guest_store<uint16_t>(first + kDescFlags, batch_flags_, std::memory_order_release);
    log_->note(first + kDescFlags, 2);
    published_from_ = batch_start_;
    published_to_ = used_;
    pending_ = 0;
    return n;
}

bool PackedRing::driver_wants_interrupt() const {
    // The used flags store must be ordered before reading the driver's
    // suppression state, or an interrupt can be lost (virtio 1.2, 2.8.21.3.2).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    uint16_t flags = guest_load<uint16_t>(driver_event_ + kEventFlags, std::memory_order_relaxed);
    if (flags == kPackedEventDisable) {
        return false;
    }
    // virtio 1.2, 2.8.10: RING_EVENT_FLAGS_DESC is valid only with
    // VIRTIO_F_EVENT_IDX; anything else (ENABLE, a reserved value, DESC
    // without EVENT_IDX) asks for interrupts.
    if (flags != kPackedEventDesc || !event_idx_) {
        return true;
    }
    // DESC: interrupt when the device writes the used descriptor at offset
    // (bits 0-14) in the lap of wrap counter (bit 15).  Positions of the
    // current used lap are [0, num), of the previous lap [-num, 0); the batch
    // just published covers [from, to).
    uint16_t off_wrap = guest_load<uint16_t>(driver_event_ + kEventOffWrap,
                                       std::memory_order_relaxed);
    int32_t to = published_to_.idx;
    int32_t from = published_from_.idx;
    if (published_from_.wrap != published_to_.wrap) {
        from -= static_cast<int32_t>(num_);
    }
    int32_t off = off_wrap & 0x7fff;
    if (((off_wrap & 0x8000) != 0) != published_to_.wrap) {
        off -= static_cast<int32_t>(num_);
    }
    return from <= off && off < to;
}

// ---- PackedChainWalker ----------------------------------------------------------

namespace {
// Ring descriptors one chain may use: the queue size (virtio 1.2, 2.8.6: a
// chain is at most Queue Size descriptors) and the implementation limit.
uint32_t max_ring_descs(uint32_t num) {
    return num < PackedChainWalker::kMaxChainBuffers ? num
                                                      : PackedChainWalker::kMaxChainBuffers;
}
}  // namespace

// The next buffer of the indirect table being walked.
WalkStep PackedChainWalker::next_in_table(DescBuffer* out) {
    if (table_pos_ == table_size_) {
        done_ = true;
        return WalkStep::kEnd;
    }
    const virtio::PackedDesc d = read_desc(table_ + 16 * size_t(table_pos_));
    table_pos_++;
    reads_++;
    if (buffers_left_ == 0) {
        return fail("descriptor chain longer than 256 buffers", false);
    }
    buffers_left_--;
    // virtio 1.2, 2.8.8: in an indirect table only WRITE is valid; the
    // others (NEXT, id) are ignored: the table is read in order.
    *out = {d.addr, d.len, (d.flags & virtio::kDescFWrite) != 0};
    return WalkStep::kBuffer;
}

// A ring descriptor with INDIRECT: checks it and moves the walk into its
// table.  False (the walk failed) if it breaks a rule.
bool PackedChainWalker::enter_indirect(const virtio::PackedDesc& d) {
    // virtio 1.2, 2.8.8.1: INDIRECT only when negotiated, never with NEXT.
    // It must also be the chain's only descriptor, as every driver builds
    // it (a chain ending in a table is not supported).
    if (!ring_.indirect_allowed()) {
        return fail_step("indirect descriptor without VIRTIO_F_INDIRECT_DESC");
    }
    if ((d.flags & virtio::kDescFNext) || ring_descs_ != 1) {
        return fail_step("indirect descriptor in a chain");
    }
    // virtio 1.2, 2.8.8: the table is len / 16 descriptors.
    if (d.len == 0 || d.len % 16 != 0) {
        return fail_step("indirect table length invalid");
    }
    const uint8_t* t = ring_.memory().gpa_to_host(d.addr, d.len);
    if (t == nullptr) {
        return fail_step("indirect table not in guest memory");
    }
    table_ = t;
    table_size_ = d.len / 16;
    table_pos_ = 0;
    return true;
}

WalkStep PackedChainWalker::next(DescBuffer* out) {
    if (done_) {
        return error_[0] ? WalkStep::kInvalid : WalkStep::kEnd;
    }
    if (table_ != nullptr) {
        return next_in_table(out);
    }
    if (ring_done_) {
        done_ = true;
        return WalkStep::kEnd;
    }
    if (ring_descs_ == max_ring_descs(ring_.num())) {
        return fail("descriptor chain longer than the queue or 256 buffers", true);
    }
    const virtio::PackedDesc d = read_desc(ring_.desc_at(static_cast<uint16_t>(idx_)));
    reads_++;
    ring_descs_++;
    idx_ = idx_ + 1 == ring_.num() ? 0 : idx_ + 1;
    if ((d.flags & virtio::kDescFNext) == 0) {
        ring_done_ = true;
        // virtio 1.2, 2.8.6: the buffer id is in the chain's last
        // descriptor; it names the buffer in the used descriptor, and (as
        // for split heads, 2.7.6) is below the queue size.
        if (d.id >= ring_.num()) {
            return fail("buffer id out of range", true);
        }
        id_ = d.id;
    }
    if (d.flags & virtio::kDescFIndirect) {
        return enter_indirect(d) ? next_in_table(out) : WalkStep::kInvalid;
    }
    if (buffers_left_ == 0) {
        return fail("descriptor chain longer than 256 buffers", false);
    }
    buffers_left_--;
    *out = {d.addr, d.len, (d.flags & virtio::kDescFWrite) != 0};
    return WalkStep::kBuffer;
}

bool PackedChainWalker::skip_rest() {
    done_ = true;
    if (error_[0] == '\0') {
        error_ = "chain abandoned";
    }
    while (!ring_done_ && !structure_broken_) {
        if (ring_descs_ == max_ring_descs(ring_.num())) {
            structure_broken_ = true;
            break;
        }
        // Only NEXT and id matter now: one load of the flags/id word.
        const uint8_t* p = ring_.desc_at(static_cast<uint16_t>(idx_));
        uint32_t w = guest_load<uint32_t>(p + kDescId, std::memory_order_relaxed);
        reads_++;
        ring_descs_++;
        idx_ = idx_ + 1 == ring_.num() ? 0 : idx_ + 1;
        uint16_t flags = static_cast<uint16_t>(w >> 16);
        if ((flags & virtio::kDescFNext) == 0) {
            ring_done_ = true;
            uint16_t id = static_cast<uint16_t>(w);
            if (id >= ring_.num()) {
                structure_broken_ = true;
                break;
            }
            id_ = id;
        }
    }
    return !structure_broken_;
}

}  // namespace nvh
