// SPDX-License-Identifier: Apache-2.0
// fuzz_input.h: reads a fuzzer's input as a stream of little-endian fields.
// Past the end every read yields zero, so a target never reads out of
// bounds and short inputs still mean something.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace nvh::fuzz {

class FuzzInput {
public:
    FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

    size_t remaining() const { return size_ - pos_; }
    bool empty() const { return pos_ == size_; }

    uint8_t u8() { return static_cast<uint8_t>(take(1)); }
    uint16_t u16() { return static_cast<uint16_t>(take(2)); }
    uint32_t u32() { return static_cast<uint32_t>(take(4)); }
    uint64_t u64() { return take(8); }

    // Up to n bytes (fewer at the end of the input).
    std::span<const uint8_t> bytes(size_t n) {
        if (n > remaining()) {
            n = remaining();
        }
        std::span<const uint8_t> out(data_ + pos_, n);
        pos_ += n;
        return out;
    }

private:
    uint64_t take(size_t n) {
        uint64_t v = 0;
        for (size_t i = 0; i < n && pos_ < size_; i++) {
            v |= uint64_t{data_[pos_++]} << (8 * i);
        }
        return v;
    }

    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
};

}  // namespace nvh::fuzz
