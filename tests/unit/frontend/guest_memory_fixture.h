// SPDX-License-Identifier: Apache-2.0
// guest_memory_fixture.h: a fake guest's memory for tests, backed by memfds.
//
// Each region is its own memfd, mapped here as the "guest" sees it.  Regions
// sit at chosen guest-physical addresses and at chosen "frontend-virtual"
// addresses (what QEMU would send as userspace_addr), so tests can hand
// GuestMemory::create exactly what a frontend would send:
//
//     GuestMemoryFixture mem;
//     mem.add_region(/*gpa=*/0, /*size=*/1 << 20);              // uva = gpa + kUvaOffset
//     mem.add_region(1 << 20, 1 << 20);      // adjacent in guest-physical space
//     auto gm = mem.create_memory();         // nvh::Result<nvh::GuestMemory>
//     uint64_t buf = mem.alloc(2048);        // a guest-physical buffer
//     mem.write(buf, bytes);                 // as the guest would
//
// The fixture keeps its own mapping of every memfd, so what the device writes
// through GuestMemory is visible through host()/read() and vice versa.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "memory/guest_memory.h"
#include "base/result.h"
#include "base/unique_fd.h"

namespace nvh::test {

class GuestMemoryFixture {
public:
    // Default distance between a region's frontend-virtual and guest-physical
    // addresses, so tests notice when one is used for the other.
    static constexpr uint64_t kUvaOffset = 0x7f0000000000;
    // What alloc() and gpa_to_uva() return when they fail, and add_region()
    // (kNoRegion); every failure is reported through frontend/failure.h.
    static constexpr uint64_t kNoAddress = ~uint64_t{0};
    static constexpr size_t kNoRegion = ~size_t{0};

    GuestMemoryFixture() = default;
    ~GuestMemoryFixture();
    GuestMemoryFixture(const GuestMemoryFixture&) = delete;
    GuestMemoryFixture& operator=(const GuestMemoryFixture&) = delete;

    // Adds a region of `size` bytes at guest-physical `gpa` and
    // frontend-virtual `uva` (default gpa + kUvaOffset), backed by a new memfd
    // in which the region starts at `fd_offset` (the file is fd_offset + size
    // bytes long).  Returns the region index, or kNoRegion (reported) if the
    // memfd cannot be created or mapped.
    size_t add_region(uint64_t gpa, uint64_t size, uint64_t uva = ~uint64_t{0},
                      uint64_t fd_offset = 0);

    size_t region_count() const { return regions_.size(); }

    // What a frontend sends in SET_MEM_TABLE: one spec per region, and a
    // fresh dup of each region's memfd (the caller owns them).
    std::vector<MemoryRegionSpec> specs() const;
    std::vector<UniqueFd> dup_fds() const;
    // Raw memfd of region i (still owned by the fixture).
    int fd(size_t i) const { return regions_[i].fd.get(); }

    // GuestMemory::create(specs(), dup_fds()).
    Result<GuestMemory> create_memory() const;

    // The fixture's host pointer for guest-physical gpa (nullptr if not in a
    // region).  Contiguous up to the end of that region only.
    uint8_t* host(uint64_t gpa) const;
    // Frontend-virtual address of gpa (for ring addresses); kNoAddress
    // (reported) if gpa is not in a region.
    uint64_t gpa_to_uva(uint64_t gpa) const;

    // Copies bytes to / from guest-physical memory; the range may cross
    // adjacent regions.  A byte in no region is reported and ends the copy.
    void write(uint64_t gpa, std::span<const uint8_t> bytes) const;
    void read(uint64_t gpa, std::span<uint8_t> out) const;
    std::vector<uint8_t> read(uint64_t gpa, size_t len) const;

    // Bump allocator: `size` bytes aligned to `align` inside one region (the
    // first with room, or region `region` if given).  Memory is zeroed (new
    // memfd pages).  kNoAddress (reported) when out of room.
    uint64_t alloc(uint64_t size, uint64_t align = 64);
    uint64_t alloc_in(size_t region, uint64_t size, uint64_t align = 64);

    // A memfd of `size` bytes, for tests that build odd tables by hand
    // (invalid, reported, if it cannot be made).
    static UniqueFd make_memfd(uint64_t size);

private:
    struct Region {
        MemoryRegionSpec spec;
        UniqueFd fd;
        uint8_t* map = nullptr;      // Mapping of [0, fd_offset + size).
        size_t map_len = 0;
        uint64_t next_free = 0;      // Bump cursor, offset in the region.
    };
    const Region* region_of(uint64_t gpa) const;

    std::vector<Region> regions_;
};

}  // namespace nvh::test
