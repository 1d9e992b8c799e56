// SPDX-License-Identifier: Apache-2.0
// file_mapping.h: a shared, read-write mapping of a range of a file that
// the frontend sent (a memory region, the dirty log bitmap), owned: it is
// unmapped with exactly the length the kernel mapped.
//
// Never assume the fd is sensible: the range must lie inside the file (a
// mapping past its end raises SIGBUS on first access), and on hugetlbfs the
// kernel maps whole huge pages, so the mapping starts at the huge page that
// holds `offset` and ends at a huge page boundary; munmap with a shorter
// length would fail and leak the mapping, the file and its huge pages.
// The frontend keeps the file and may truncate it, punch holes in it or
// leave it without space later: every mapping is registered with the
// SIGBUS guard (memory/fault_guard.h) for as long as it is mapped.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/result.h"
#include "memory/fault_guard.h"

namespace nvh {

// What a mapping is of, for its error messages.
enum class MappedFile { kMemoryRegion, kDirtyLog };

class FileMapping {
public:
    FileMapping() = default;
    ~FileMapping() { unmap(); }
    FileMapping(FileMapping&& other) noexcept;
    FileMapping& operator=(FileMapping&& other) noexcept;
    FileMapping(const FileMapping&) = delete;
    FileMapping& operator=(const FileMapping&) = delete;

    // Maps [offset, offset + len) of `fd` (len > 0); `what` names it in
    // errors.  A SIGBUS in the mapping sets *fault_flag (if not null) and
    // the faulting page reads as zeros from then on (fault_guard.h).
    static Result<FileMapping> map(int fd, uint64_t offset, uint64_t len, MappedFile what,
                                   FaultFlag* fault_flag = nullptr);

    bool mapped() const { return mapping_ != nullptr; }
    // Host address of the byte at `offset`.
    uint8_t* data() const { return data_; }
    // Bytes of address space the mapping takes (whole pages of the file's
    // page size).
    size_t mapped_bytes() const { return mapping_len_; }

private:
    void unmap();

    void* mapping_ = nullptr;   // What mmap returned.
    size_t mapping_len_ = 0;    // What the kernel mapped.
    uint8_t* data_ = nullptr;
    FaultGuard guard_;          // Released before the munmap.
};

}  // namespace nvh
