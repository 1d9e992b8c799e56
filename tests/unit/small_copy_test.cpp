// copy_bytes: every length up to past the inline limit, at odd offsets,
// writes exactly the n bytes asked for.
#include "small_copy.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace nvh
