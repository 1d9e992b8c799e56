// SPDX-License-Identifier: Apache-2.0
// shared_log.h: a frontend's dirty log for tests (vhost-user.rst,
// "Migration"): a memfd the test maps itself, so it reads the bits the
// device set exactly as a migrating frontend would.
#pragma once

#include <sys/mman.h>

#include <cstdint>
#include <set>

#include "frontend/failure.h"
#include "frontend/guest_memory_fixture.h"
#include "base/unique_fd.h"

namespace nvh::test {

class SharedLog {
public:
    static constexpr uint64_t kPage = 0x1000;   // VHOST_LOG_PAGE

    // A memfd of offset + size + slack bytes; the log is [offset,
    // offset + size), the slack lets tests check nothing is written past it.
    // If it cannot be mapped (reported), it reads as all zero.
    explicit SharedLog(uint64_t size, uint64_t offset = 0, uint64_t slack = 0)
        : size_(size), offset_(offset), len_(offset + size + slack) {
        fd_ = GuestMemoryFixture::make_memfd(len_);
        void* p = ::mmap(nullptr, len_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
        if (p == MAP_FAILED) {
            report_failure("shared_log", "mmap failed");
            return;
        }
        map_ = static_cast<uint8_t*>(p);
    }
    ~SharedLog() {
        if (map_) {
            ::munmap(map_, len_);
        }
    }
    SharedLog(const SharedLog&) = delete;
    SharedLog& operator=(const SharedLog&) = delete;

    int fd() const { return fd_.get(); }
    UniqueFd dup_fd() const { return UniqueFd(::dup(fd_.get())); }
    uint64_t size() const { return size_; }
    uint64_t offset() const { return offset_; }
    // Byte i of the whole memfd (to look outside the log).
    uint8_t raw(uint64_t i) const { return map_ ? map_[i] : 0; }

    // Numbers of the pages whose bits are set.
    std::set<uint64_t> marked() const {
        std::set<uint64_t> pages;
        for (uint64_t byte = 0; map_ && byte < size_; byte++) {
            for (unsigned bit = 0; bit < 8; bit++) {
                if ((map_[offset_ + byte] >> bit) & 1) {
                    pages.insert(byte * 8 + bit);
                }
            }
        }
        return pages;
    }
    // What a migration pass does after copying the pages.
    void clear() {
        for (uint64_t byte = 0; map_ && byte < size_; byte++) {
            map_[offset_ + byte] = 0;
        }
    }

    // The pages of guest-physical [gpa, gpa + len).
    static std::set<uint64_t> pages_of(uint64_t gpa, uint64_t len) {
        std::set<uint64_t> pages;
        for (uint64_t p = gpa / kPage; p <= (gpa + len - 1) / kPage; p++) {
            pages.insert(p);
        }
        return pages;
    }

private:
    uint64_t size_;
    uint64_t offset_;
    uint64_t len_;
    UniqueFd fd_;
    uint8_t* map_ = nullptr;
};

}  // namespace nvh::test
