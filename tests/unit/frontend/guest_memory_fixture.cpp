// SPDX-License-Identifier: Apache-2.0
// guest_memory_fixture.cpp: memfd-backed fake guest memory for tests.
#include "frontend/guest_memory_fixture.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "frontend/failure.h"

namespace nvh::test {
namespace {

void fail(const char* what) { report_failure("guest_memory_fixture", what); }

}  // namespace

GuestMemoryFixture::~GuestMemoryFixture() {
    for (Region& r : regions_) {
        if (r.map) {
            ::munmap(r.map, r.map_len);
        }
    }
}

UniqueFd GuestMemoryFixture::make_memfd(uint64_t size) {
    UniqueFd fd(::memfd_create("nvh-test-guest", MFD_CLOEXEC));
    if (!fd.valid()) {
        fail("memfd_create failed");
        return fd;
    }
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
        fail("ftruncate failed");
        return UniqueFd();
    }
    return fd;
}

size_t GuestMemoryFixture::add_region(uint64_t gpa, uint64_t size, uint64_t uva,
                                      uint64_t fd_offset) {
    if (uva == ~uint64_t{0}) {
        uva = gpa + kUvaOffset;
    }
    Region r;
    r.spec = {gpa, size, uva, fd_offset};
    r.fd = make_memfd(fd_offset + size);
    if (!r.fd.valid()) {
        return kNoRegion;
    }
    r.map_len = static_cast<size_t>(fd_offset + size);
    void* p = ::mmap(nullptr, r.map_len, PROT_READ | PROT_WRITE, MAP_SHARED,
                     r.fd.get(), 0);
    if (p == MAP_FAILED) {
        fail("mmap failed");
        return kNoRegion;
    }
    r.map = static_cast<uint8_t*>(p);
    regions_.push_back(std::move(r));
    return regions_.size() - 1;
}

std::vector<MemoryRegionSpec> GuestMemoryFixture::specs() const {
    std::vector<MemoryRegionSpec> out;
    for (const Region& r : regions_) {
        out.push_back(r.spec);
    }
    return out;
}

std::vector<UniqueFd> GuestMemoryFixture::dup_fds() const {
    std::vector<UniqueFd> out;
    for (const Region& r : regions_) {
        UniqueFd fd(::fcntl(r.fd.get(), F_DUPFD_CLOEXEC, 0));
        if (!fd.valid()) {
            fail("dup failed");   // GuestMemory::create refuses the table.
        }
        out.push_back(std::move(fd));
    }
    return out;
}

Result<GuestMemory> GuestMemoryFixture::create_memory() const {
    std::vector<MemoryRegionSpec> s = specs();
    std::vector<UniqueFd> fds = dup_fds();
    return GuestMemory::create(s.data(), fds.data(), s.size());
}

const GuestMemoryFixture::Region* GuestMemoryFixture::region_of(uint64_t gpa) const {
    for (const Region& r : regions_) {
        if (gpa >= r.spec.guest_phys_addr &&
            gpa - r.spec.guest_phys_addr < r.spec.memory_size) {
            return &r;
        }
    }
    return nullptr;
}

uint8_t* GuestMemoryFixture::host(uint64_t gpa) const {
    const Region* r = region_of(gpa);
    if (!r) {
        return nullptr;
    }
    return r->map + r->spec.mmap_offset + (gpa - r->spec.guest_phys_addr);
}

uint64_t GuestMemoryFixture::gpa_to_uva(uint64_t gpa) const {
    const Region* r = region_of(gpa);
    if (!r) {
        fail("gpa_to_uva: address not in a region");
        return kNoAddress;
    }
    return r->spec.userspace_addr + (gpa - r->spec.guest_phys_addr);
}

void GuestMemoryFixture::write(uint64_t gpa, std::span<const uint8_t> bytes) const {
    size_t done = 0;
    while (done < bytes.size()) {
        const Region* r = region_of(gpa + done);
        if (!r) {
            fail("write: address not in a region");
            return;
        }
        uint64_t left = r->spec.memory_size - (gpa + done - r->spec.guest_phys_addr);
        size_t n = std::min<uint64_t>(left, bytes.size() - done);
        std::memcpy(host(gpa + done), bytes.data() + done, n);
        done += n;
    }
}

void GuestMemoryFixture::read(uint64_t gpa, std::span<uint8_t> out) const {
    size_t done = 0;
    while (done < out.size()) {
        const Region* r = region_of(gpa + done);
        if (!r) {
            fail("read: address not in a region");
            return;
        }
        uint64_t left = r->spec.memory_size - (gpa + done - r->spec.guest_phys_addr);
        size_t n = std::min<uint64_t>(left, out.size() - done);
        std::memcpy(out.data() + done, host(gpa + done), n);
        done += n;
    }
}

std::vector<uint8_t> GuestMemoryFixture::read(uint64_t gpa, size_t len) const {
    std::vector<uint8_t> out(len);
    read(gpa, out);
    return out;
}

uint64_t GuestMemoryFixture::alloc_in(size_t region, uint64_t size, uint64_t align) {
    if (region >= regions_.size()) {
        fail("alloc: no such region");
        return kNoAddress;
    }
    Region& r = regions_[region];
    uint64_t gpa = r.spec.guest_phys_addr + r.next_free;
    gpa = (gpa + align - 1) & ~(align - 1);
    uint64_t off = gpa - r.spec.guest_phys_addr;
    if (off > r.spec.memory_size || size > r.spec.memory_size - off) {
        fail("alloc: region full");
        return kNoAddress;
    }
    r.next_free = off + size;
    return gpa;
}

uint64_t GuestMemoryFixture::alloc(uint64_t size, uint64_t align) {
    for (size_t i = 0; i < regions_.size(); i++) {
        const Region& r = regions_[i];
        uint64_t gpa = (r.spec.guest_phys_addr + r.next_free + align - 1) & ~(align - 1);
        uint64_t off = gpa - r.spec.guest_phys_addr;
        if (off <= r.spec.memory_size && size <= r.spec.memory_size - off) {
            return alloc_in(i, size, align);
        }
    }
    fail("alloc: no region has room");
    return kNoAddress;
}

}  // namespace nvh::test
