// SPDX-License-Identifier: Apache-2.0
// copy_bytes: every length up to past the inline limit, at odd offsets,
// writes exactly the n bytes asked for.  store_short_if_changed: the same
// result, and no store at all where the bytes are already equal.
#include "base/small_copy.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vector>

namespace nvh {
namespace {

TEST(SmallCopy, EveryLengthCopiesExactlyItsBytes) {
    std::vector<uint8_t> src(600), dst(600);
    for (size_t i = 0; i < src.size(); i++) {
        src[i] = static_cast<uint8_t>(i * 31 + 7);
    }
    for (size_t offset : {0, 1, 3, 13}) {
        for (size_t n = 0; n <= 520; n++) {
            std::fill(dst.begin(), dst.end(), 0xee);
            copy_bytes(dst.data() + offset, src.data() + 5, n);
            for (size_t i = 0; i < dst.size(); i++) {
                uint8_t want = (i >= offset && i < offset + n) ? src[5 + i - offset] : 0xee;
                ASSERT_EQ(dst[i], want) << "n " << n << " offset " << offset << " byte " << i;
            }
        }
    }
}

TEST(SmallCopy, ShortCopiesUpTo16Bytes) {
    uint8_t src[16], dst[24];
    for (size_t i = 0; i < sizeof src; i++) {
        src[i] = static_cast<uint8_t>(0xa0 + i);
    }
    for (size_t n = 0; n <= 16; n++) {
        std::fill(std::begin(dst), std::end(dst), 0xee);
        copy_short(dst + 4, src, n);
        for (size_t i = 0; i < sizeof dst; i++) {
            uint8_t want = (i >= 4 && i < 4 + n) ? src[i - 4] : 0xee;
            ASSERT_EQ(dst[i], want) << "n " << n << " byte " << i;
        }
    }
}

TEST(SmallCopy, StoreIfChangedMakesEveryLengthEqual) {
    uint8_t src[16], dst[24];
    for (size_t i = 0; i < sizeof src; i++) {
        src[i] = static_cast<uint8_t>(0xa0 + i);
    }
    for (size_t n = 0; n <= 16; n++) {
        // Only one byte differs, at each place in turn, or none.
        for (size_t diff = 0; diff <= n; diff++) {
            std::fill(std::begin(dst), std::end(dst), 0xee);
            std::copy(src, src + n, dst + 4);
            if (diff < n) {
                dst[4 + diff] ^= 0x5a;
            }
            store_short_if_changed(dst + 4, src, n);
            for (size_t i = 0; i < sizeof dst; i++) {
                uint8_t want = (i >= 4 && i < 4 + n) ? src[i - 4] : 0xee;
                ASSERT_EQ(dst[i], want) << "n " << n << " diff " << diff << " byte " << i;
            }
        }
    }
}

// An equal header is not stored: on a read-only page, a store would fault.
TEST(SmallCopy, StoreIfChangedLeavesEqualBytesUnwritten) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* map = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(map, MAP_FAILED);
    uint8_t* buf = static_cast<uint8_t*>(map);
    uint8_t hdr[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
    for (size_t at : {size_t{0}, size_t{116}, page - 12}) {
        std::copy(std::begin(hdr), std::end(hdr), buf + at);
    }
    ASSERT_EQ(mprotect(map, page, PROT_READ), 0);
    for (size_t at : {size_t{0}, size_t{116}, page - 12}) {
        store_short_if_changed(buf + at, hdr, sizeof hdr);
        store_short_if_changed(buf + at, hdr, 10);
        store_short_if_changed(buf + at + 2, hdr + 2, 8);
    }
    munmap(map, page);
}

}  // namespace
}  // namespace nvh
