// SPDX-License-Identifier: Apache-2.0
// packed_ring_driver.h: the DRIVER side of a packed virtqueue (virtio 1.2,
// 2.8), written into a GuestMemoryFixture, for testing the device side.
// Same use as SplitRingDriver:
//
//     PackedRingDriver txq(mem, 256);
//     txq.configure(vq);                  // set_num, set_addresses, base 0x8000
//     vq.start(memory, features | bit(kFRingPacked)); vq.set_enabled(true);
//     txq.add_tx(net_header(12), frame);  // guest sends
//     ... net_dequeue_burst(vq, ...) ...
//     auto u = txq.pop_used();
//
// Chains occupy consecutive ring slots from the driver's avail position
// (with the wrap counter flipping at the end of the ring); each slot has a
// pool buffer of buffer_size bytes.  The head's flags are stored last, with
// release (virtio 1.2, 2.8.21.1), so the device sees the chain at once.
// Buffer ids come from a free list.  add_raw builds broken chains.  A misuse
// (a piece larger than buffer_size, no room) is reported through
// frontend/failure.h and the call returns its error value.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <vector>

#include "frontend/guest_memory_fixture.h"
#include "base/virtio_spec.h"
#include "ring/virtqueue.h"

namespace nvh::test {

class PackedRingDriver {
public:
    struct Segment {
        uint64_t gpa;
        uint32_t len;
        bool writable;
    };
    struct Used {
        uint16_t id;
        uint32_t len;
        uint16_t flags;
        std::vector<Segment> segments;
    };

    PackedRingDriver(GuestMemoryFixture& mem, uint16_t num, uint32_t buffer_size = 16384);

    uint16_t num() const { return num_; }
    VringAddresses addresses() const;
    // vq.set_num(num), vq.set_addresses(addresses()), vq.set_base(base)
    // (default: index 0, wrap counter 1, as DPDK's virtio_user sends it).
    bool configure(Virtqueue& vq, uint32_t base = 0x8000) const;
    static std::vector<uint8_t> net_header(uint32_t hdr_len) {
        return std::vector<uint8_t>(hdr_len, 0);
    }

    // ---- Adding chains (return the buffer id, or -1 if the ring is full) --
    int add_tx(std::span<const uint8_t> header, std::span<const uint8_t> frame,
               std::span<const uint32_t> split = {});
    int add_rx(std::span<const uint32_t> sizes);
    int add_rx(std::initializer_list<uint32_t> sizes) {
        return add_rx(std::span<const uint32_t>(sizes.begin(), sizes.size()));
    }
    int add_chain(std::span<const Segment> segments);
    // One ring descriptor with VIRTQ_DESC_F_INDIRECT pointing at a table in
    // fresh guest memory holding `segments`.
    int add_indirect(std::span<const Segment> segments);
    // Writes `descs` as they are into consecutive slots (only the AVAIL/USED
    // bits are set by the driver), head last; pop_used() frees descs.size()
    // slots for the id of the last one.  For broken chains.  False (and
    // reported) if the ring has no room.
    [[nodiscard]] bool add_raw(std::span<const virtio::PackedDesc> descs);

    // ---- Reaping -----------------------------------------------------------
    // The next used descriptor, if the device wrote it (flags read with
    // acquire): AVAIL and USED both equal to the driver's used wrap counter.
    std::optional<Used> pop_used();
    // With VIRTIO_F_IN_ORDER: the next used descriptor names the last buffer
    // of a batch; every outstanding buffer made available up to it is used
    // (virtio 1.2, "Packed Virtqueues / In-order use of descriptors").  The
    // batch in avail order (len 0 for all but the one named), empty if no
    // used descriptor is there.
    std::vector<Used> pop_used_in_order();
    std::vector<uint8_t> read_used(const Used& used) const;
    // The flags of ring slot `slot` as they are now.
    uint16_t slot_flags(uint16_t slot) const;

    // ---- Event suppression (virtio 1.2, 2.8.10) ----------------------------
    void set_driver_event(uint16_t flags, uint16_t off_wrap = 0);
    uint16_t device_event_flags() const;
    // Next slot the driver will read a used descriptor from, and its wrap.
    uint16_t next_used() const { return next_used_; }
    bool used_wrap() const { return used_wrap_; }
    uint16_t next_avail() const { return next_avail_; }
    bool avail_wrap() const { return avail_wrap_; }
    uint16_t free_slots() const { return free_slots_; }

    uint64_t pool_buffer(uint16_t slot) const { return pool_ + uint64_t{slot} * buffer_size_; }
    uint32_t buffer_size() const { return buffer_size_; }

private:
    // Host address of a ring part (scratch memory if the ring has none).
    uint8_t* host(uint64_t gpa, size_t off) const;
    // Whether every size fits a pool buffer; reports `what` if not.
    bool fits_pool(std::span<const uint32_t> sizes, const char* what) const;
    // Writes a chain at next_avail_; returns the id or -1.
    int link_chain(std::span<const Segment> segments, bool indirect_table, uint64_t table);
    int alloc_id();
    // Frees buffer `id` and moves the used position past its slots.
    void release(uint16_t id);

    GuestMemoryFixture& mem_;
    uint16_t num_;
    uint32_t buffer_size_;
    uint64_t desc_gpa_, driver_event_gpa_, device_event_gpa_, pool_;
    uint16_t next_avail_ = 0;
    bool avail_wrap_ = true;
    uint16_t next_used_ = 0;
    bool used_wrap_ = true;
    uint16_t free_slots_;
    std::vector<uint16_t> free_ids_;
    std::vector<uint16_t> id_slots_;                // Slots of each id's chain.
    std::vector<std::vector<Segment>> id_segs_;     // By id.
    std::deque<uint16_t> avail_order_;              // Outstanding ids, oldest first.
    std::vector<uint8_t> scratch_;   // The ring, when guest memory had no room.
};

}  // namespace nvh::test
