// SPDX-License-Identifier: Apache-2.0
// guest_memory.h: the guest's memory as the frontend shared it
// (VHOST_USER_SET_MEM_TABLE), mapped into this process, with bounds-checked
// translation of guest-physical and frontend-virtual addresses.
//
// Never assume a field from the frontend is sensible: every region is
// validated before it is mapped, and every translation checks that the whole
// range lies inside mapped memory.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/result.h"
#include "memory/file_mapping.h"
#include "netdev-vhost/nvh.h"
#include "base/unique_fd.h"

namespace nvh {

// Guest memory one device maps at most unless configured otherwise
// (nvh_device_config.max_guest_memory).
inline constexpr uint64_t kDefaultMaxGuestMemory = NVH_DEFAULT_MAX_GUEST_MEMORY;

// One region as described by the frontend (vhost-user.rst, "Memory region
// description"), before validation.
struct MemoryRegionSpec {
    uint64_t guest_phys_addr;
    uint64_t memory_size;
    uint64_t userspace_addr;   // Frontend's (QEMU's) virtual address.
    uint64_t mmap_offset;      // Offset of the region in its fd.
};

// One region mapped into this process (memory/file_mapping.h).  Movable,
// not copyable.
class MappedRegion {
public:
    // Maps `spec` from `fd`, which the region keeps (a planned restart hands
    // it to the next process, device/handover.h).  Fails if the
    // sizes overflow or the fd is smaller than mmap_offset + memory_size.
    // A later SIGBUS in the region sets *fault_flag (memory/fault_guard.h).
    static Result<MappedRegion> map(const MemoryRegionSpec& spec, UniqueFd fd,
                                    FaultFlag* fault_flag = nullptr);

    const MemoryRegionSpec& spec() const { return spec_; }
    uint8_t* host_base() const { return mapping_.data(); }   // Host address of the
                                                             // region's first byte.
    // Bytes of address space the region's mapping takes.
    size_t mapped_bytes() const { return mapping_.mapped_bytes(); }
    // The fd the region was mapped from.
    int fd() const { return fd_.get(); }

private:
    MemoryRegionSpec spec_{};
    FileMapping mapping_;
    UniqueFd fd_;
};

// A contiguous piece of a guest range in host memory.
struct HostPiece {
    uint8_t* ptr;       // nullptr if the start is not mapped.
    uint64_t len;       // Bytes contiguous from ptr, <= the length asked for.
};

// The whole memory table.  Immutable once built: a new SET_MEM_TABLE builds a
// new GuestMemory and the device swaps it in while the queues are stopped.
class GuestMemory {
public:
    static constexpr size_t kMaxRegions = 8;   // VHOST_MEMORY_BASELINE_NREGIONS

    GuestMemory() = default;
    GuestMemory(GuestMemory&&) noexcept = default;
    GuestMemory& operator=(GuestMemory&&) noexcept = default;

    // Validates (count, sizes, overflow of address + size, overlap in both
    // guest-physical and frontend-virtual space) and maps every region.
    // fds[i] belongs to specs[i].  On failure nothing stays mapped and every
    // fd is closed.  A SIGBUS in any region later sets *fault_flag (if not
    // null; memory/fault_guard.h), which must outlive the GuestMemory.
    // `max_bytes` bounds the regions' total size (a frontend may ask for any
    // amount of address space: a sparse file of 100 TiB maps without error
    // and leaves the process none; NVH_DEFAULT_MAX_GUEST_MEMORY in nvh.h).
    static Result<GuestMemory> create(const MemoryRegionSpec* specs,
                                      UniqueFd* fds, size_t count,
                                      uint64_t max_bytes = kDefaultMaxGuestMemory,
                                      FaultFlag* fault_flag = nullptr);

    size_t region_count() const { return count_; }
    const MappedRegion& region(size_t i) const { return regions_[i]; }

    // Host pointer for guest-physical [gpa, gpa + len) if the whole range is
    // inside one region, else nullptr.  len == 0 is refused (nullptr).
    uint8_t* gpa_to_host(uint64_t gpa, uint64_t len) const;

    // The longest piece of [gpa, gpa + len) that starts at gpa and is
    // contiguous in host memory (ends at the end of gpa's region).  Callers
    // that accept buffers spanning regions loop over pieces.
    // Inline: the data path translates every descriptor's buffer with it.
    HostPiece gpa_piece(uint64_t gpa, uint64_t len) const {
        if (len == 0) {
            return {nullptr, 0};
        }
        for (size_t i = 0; i < count_; i++) {
            const MemoryRegionSpec& s = regions_[i].spec();
            // gpa inside [guest_phys_addr, guest_phys_addr + memory_size);
            // the region's end does not overflow (create()).
            if (gpa >= s.guest_phys_addr && gpa - s.guest_phys_addr < s.memory_size) {
                const uint64_t off = gpa - s.guest_phys_addr;
                const uint64_t left = s.memory_size - off;
                return {regions_[i].host_base() + off, len < left ? len : left};
            }
        }
        return {nullptr, 0};
    }

    // Host pointer for frontend-virtual [uva, uva + len) if it lies inside one
    // region, else nullptr (vring addresses, VHOST_USER_SET_VRING_ADDR).
    uint8_t* uva_to_host(uint64_t uva, uint64_t len) const;

    // Guest-physical address of a frontend-virtual address, if mapped
    // (dirty logging of used-ring writes needs it).  Returns false if not.
    bool uva_to_gpa(uint64_t uva, uint64_t* gpa) const;

    // Guest-physical address of host address `p` inside a mapped region
    // (dirty logging of the device's writes).  Returns false if not mapped.
    bool host_to_gpa(const uint8_t* p, uint64_t* gpa) const;

private:
    std::array<MappedRegion, kMaxRegions> regions_{};
    size_t count_ = 0;
};

}  // namespace nvh
