// SPDX-License-Identifier: Apache-2.0
// guest_memory.cpp: validation, mapping and translation of the guest's
// memory table (vhost-user.rst, VHOST_USER_SET_MEM_TABLE).
#include "memory/guest_memory.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace nvh {
namespace {

// a + b without wrapping past 2^64.  Returns false on overflow.
bool add_ok(uint64_t a, uint64_t b, uint64_t* sum) {
    return !__builtin_add_overflow(a, b, sum);
}

// [a, a + alen) and [b, b + blen) intersect.  The ends are known not to
// overflow.
bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen) {
    return a < b + blen && b < a + alen;
}

// Offset of `addr` inside [base, base + size) if [addr, addr + len) lies
// entirely inside it.  base + size is known not to overflow.
bool range_inside(uint64_t base, uint64_t size, uint64_t addr, uint64_t len,
                  uint64_t* offset) {
    if (addr < base) {
        return false;
    }
    uint64_t off = addr - base;
    if (off >= size || len > size - off) {
        return false;
    }
    *offset = off;
    return true;
}

}  // namespace

// ---- MappedRegion ---------------------------------------------------------

Result<MappedRegion> MappedRegion::map(const MemoryRegionSpec& spec, UniqueFd fd,
                                       FaultFlag* fault_flag) {
    if (!fd.valid()) {
        return Error{EBADF, "memory region without a file descriptor"};
    }
    if (spec.memory_size == 0) {
        return Error{EINVAL, "memory region of size 0"};
    }
    uint64_t end;
    if (!add_ok(spec.guest_phys_addr, spec.memory_size, &end) ||
        !add_ok(spec.userspace_addr, spec.memory_size, &end)) {
        return Error{EINVAL, "memory region address + size overflows"};
    }
    // vhost-user.rst, "Memory region description": the region is mapped
    // from the fd at mmap_offset; FileMapping checks that the file holds it
    // now, and registers the mapping with the SIGBUS guard for later
    // (memory/fault_guard.h).
    Result<FileMapping> m = FileMapping::map(fd.get(), spec.mmap_offset, spec.memory_size,
                                             MappedFile::kMemoryRegion, fault_flag);
    if (!m) {
        return m.error();
    }
    MappedRegion r;
    r.spec_ = spec;
    r.mapping_ = std::move(m).value();
    r.fd_ = std::move(fd);
    return r;
}

// ---- GuestMemory ------------------------------------------------------------

Result<GuestMemory> GuestMemory::create(const MemoryRegionSpec* specs,
                                        UniqueFd* fds, size_t count, uint64_t max_bytes,
                                        FaultFlag* fault_flag) {
    // Every fd is closed on every path: fds we do not map are reset here.
    auto close_all = [&]() {
        for (size_t i = 0; i < count; i++) {
            fds[i].reset();
        }
    };
    if (count == 0 || count > kMaxRegions) {
        close_all();
        return Error{EINVAL, "memory table must have 1 to 8 regions"};
    }
    for (size_t i = 0; i < count; i++) {
        const MemoryRegionSpec& a = specs[i];
        uint64_t end;
        if (a.memory_size == 0) {
            close_all();
            return Error{EINVAL, "memory region of size 0"};
        }
        if (!add_ok(a.guest_phys_addr, a.memory_size, &end) ||
            !add_ok(a.userspace_addr, a.memory_size, &end) ||
            !add_ok(a.mmap_offset, a.memory_size, &end)) {
            close_all();
            return Error{EINVAL, "memory region address + size overflows"};
        }
        for (size_t j = 0; j < i; j++) {
            const MemoryRegionSpec& b = specs[j];
            if (overlaps(a.guest_phys_addr, a.memory_size, b.guest_phys_addr,
                         b.memory_size)) {
                close_all();
                return Error{EINVAL, "memory regions overlap (guest-physical)"};
            }
            if (overlaps(a.userspace_addr, a.memory_size, b.userspace_addr,
                         b.memory_size)) {
                close_all();
                return Error{EINVAL, "memory regions overlap (frontend-virtual)"};
            }
        }
    }
    // Checked before anything is mapped; each size is below 2^64 and there
    // are at most kMaxRegions, so the sum is taken without overflow.
    uint64_t total = 0;
    for (size_t i = 0; i < count; i++) {
        if (__builtin_add_overflow(total, specs[i].memory_size, &total) || total > max_bytes) {
            close_all();
            return Error{E2BIG, "memory table larger than the device's max-guest-memory"};
        }
    }
    GuestMemory mem;
    for (size_t i = 0; i < count; i++) {
        auto region = MappedRegion::map(specs[i], std::move(fds[i]), fault_flag);
        if (!region) {
            close_all();
            return region.error();   // `mem` unmaps what was mapped so far.
        }
        mem.regions_[i] = std::move(region.value());
        mem.count_ = i + 1;
    }
    return mem;
}

uint8_t* GuestMemory::gpa_to_host(uint64_t gpa, uint64_t len) const {
    if (len == 0) {
        return nullptr;
    }
    for (size_t i = 0; i < count_; i++) {
        const MemoryRegionSpec& s = regions_[i].spec();
        uint64_t off;
        if (range_inside(s.guest_phys_addr, s.memory_size, gpa, len, &off)) {
            return regions_[i].host_base() + off;
        }
    }
    return nullptr;
}

uint8_t* GuestMemory::uva_to_host(uint64_t uva, uint64_t len) const {
    if (len == 0) {
        return nullptr;
    }
    for (size_t i = 0; i < count_; i++) {
        const MemoryRegionSpec& s = regions_[i].spec();
        uint64_t off;
        if (range_inside(s.userspace_addr, s.memory_size, uva, len, &off)) {
            return regions_[i].host_base() + off;
        }
    }
    return nullptr;
}

bool GuestMemory::uva_to_gpa(uint64_t uva, uint64_t* gpa) const {
    for (size_t i = 0; i < count_; i++) {
        const MemoryRegionSpec& s = regions_[i].spec();
        uint64_t off;
        if (range_inside(s.userspace_addr, s.memory_size, uva, 1, &off)) {
            *gpa = s.guest_phys_addr + off;
            return true;
        }
    }
    return false;
}

bool GuestMemory::host_to_gpa(const uint8_t* p, uint64_t* gpa) const {
    const uintptr_t addr = reinterpret_cast<uintptr_t>(p);
    for (size_t i = 0; i < count_; i++) {
        const MemoryRegionSpec& s = regions_[i].spec();
        uint64_t off;
        if (range_inside(reinterpret_cast<uintptr_t>(regions_[i].host_base()),
                         s.memory_size, addr, 1, &off)) {
            *gpa = s.guest_phys_addr + off;
            return true;
        }
    }
    return false;
}

}  // namespace nvh
