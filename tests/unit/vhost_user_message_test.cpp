// SPDX-License-Identifier: Apache-2.0
// Tests of the vhost-user codec: per-request payload sizes, fd counts, the
// header's version flags, vring index range, and reply encoding.
#include <fcntl.h>
#include <sys/eventfd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "vhost_user/vhost_user_message.h"

namespace nvh::vhost_user {
namespace {

constexpr DecodeLimits kLimits{2};   // One queue pair.

uint32_t code(Request r) { return static_cast<uint32_t>(r); }

Header header_for(Request r, size_t size, uint32_t flags = kVersion) {
    return Header{code(r), flags, static_cast<uint32_t>(size)};
}

std::vector<uint8_t> u64_bytes(uint64_t v) {
    std::vector<uint8_t> b(8);
    std::memcpy(b.data(), &v, 8);
    return b;
}

std::vector<uint8_t> state_bytes(uint32_t index, uint32_t num) {
    std::vector<uint8_t> b(8);
    std::memcpy(b.data(), &index, 4);
    std::memcpy(b.data() + 4, &num, 4);
    return b;
}

std::vector<UniqueFd> make_fds(size_t n) {
    std::vector<UniqueFd> fds;
    for (size_t i = 0; i < n; i++) {
        fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
    }
    return fds;
}

bool fd_is_closed(int fd) { return ::fcntl(fd, F_GETFD) == -1 && errno == EBADF; }

// Decodes with `fds`, then lets them go out of scope as the session does.
Status decode_with(const Header& h, const std::vector<uint8_t>& payload,
                   std::vector<UniqueFd>& fds, Message* out,
                   DecodeLimits limits = kLimits) {
    return decode(h, payload, std::span<UniqueFd>(fds.data(), fds.size()), limits, out);
}

std::vector<uint8_t> mem_table_bytes(uint32_t count, uint32_t regions_in_payload) {
    std::vector<uint8_t> b(8 + 32 * regions_in_payload, 0);
    std::memcpy(b.data(), &count, 4);
    for (uint32_t i = 0; i < regions_in_payload; i++) {
        uint64_t gpa = uint64_t{i} << 30, size = 1 << 20, uva = gpa + 0x1000, off = 0;
        std::memcpy(b.data() + 8 + 32 * i, &gpa, 8);
        std::memcpy(b.data() + 16 + 32 * i, &size, 8);
        std::memcpy(b.data() + 24 + 32 * i, &uva, 8);
        std::memcpy(b.data() + 32 + 32 * i, &off, 8);
    }
    return b;
}

TEST(VhostUserMessage, ParsesHeaderFields) {
    uint8_t bytes[kHeaderSize];
    uint32_t fields[3] = {11, 0x9, 8};
    std::memcpy(bytes, fields, sizeof bytes);
    Header h = parse_header(std::span<const uint8_t, kHeaderSize>(bytes, kHeaderSize));
    EXPECT_EQ(h.request, 11u);
    EXPECT_EQ(h.flags, 0x9u);
    EXPECT_EQ(h.size, 8u);
}

TEST(VhostUserMessage, DecodesU64Requests) {
    for (Request r : {Request::kSetFeatures, Request::kSetProtocolFeatures}) {
        std::vector<UniqueFd> fds;
        Message m;
        auto payload = u64_bytes(0x1234567890abcdefULL);
        ASSERT_TRUE(decode_with(header_for(r, 8), payload, fds, &m));
        EXPECT_EQ(m.request, code(r));
        EXPECT_EQ(std::get<uint64_t>(m.payload), 0x1234567890abcdefULL);
    }
}

TEST(VhostUserMessage, RequestsWithoutPayloadRefuseAnyPayload) {
    for (Request r : {Request::kGetFeatures, Request::kSetOwner, Request::kResetOwner,
                      Request::kGetProtocolFeatures, Request::kGetQueueNum}) {
        std::vector<UniqueFd> fds;
        Message m;
        std::vector<uint8_t> empty;
        EXPECT_TRUE(decode_with(header_for(r, 0), empty, fds, &m)) << request_name(code(r));
        auto four = std::vector<uint8_t>(4, 0);
        EXPECT_FALSE(decode_with(header_for(r, 4), four, fds, &m)) << request_name(code(r));
    }
}

TEST(VhostUserMessage, EachFixedRequestNeedsItsExactSize) {
    struct Case { Request r; size_t size; };
    for (Case c : {Case{Request::kSetFeatures, 8}, Case{Request::kSetVringNum, 8},
                   Case{Request::kSetVringBase, 8}, Case{Request::kGetVringBase, 8},
                   Case{Request::kSetVringEnable, 8}, Case{Request::kSetVringAddr, 40},
                   Case{Request::kSetVringKick, 8}, Case{Request::kSetVringCall, 8},
                   Case{Request::kSetVringErr, 8}}) {
        for (size_t wrong : {c.size - 1, c.size + 1, size_t{0}}) {
            std::vector<UniqueFd> fds;
            Message m;
            std::vector<uint8_t> payload(wrong, 0);
            Status s = decode_with(header_for(c.r, wrong), payload, fds, &m);
            EXPECT_FALSE(s) << request_name(code(c.r)) << " size " << wrong;
        }
        std::vector<UniqueFd> fds;
        Message m;
        std::vector<uint8_t> payload(c.size, 0);
        // Index 0, no flags; kick/call/err with a zero u64 need one fd.
        bool needs_fd = c.r == Request::kSetVringKick || c.r == Request::kSetVringCall ||
                        c.r == Request::kSetVringErr;
        if (needs_fd) {
            fds = make_fds(1);
        }
        EXPECT_TRUE(decode_with(header_for(c.r, c.size), payload, fds, &m))
            << request_name(code(c.r));
    }
}

TEST(VhostUserMessage, DecodesVringAddress) {
    std::vector<uint8_t> b(40, 0);
    uint32_t index = 1;
    uint64_t desc = 0x1000, used = 0x3000, avail = 0x2000, log = 0x4000;
    std::memcpy(b.data(), &index, 4);
    std::memcpy(b.data() + 8, &desc, 8);
    std::memcpy(b.data() + 16, &used, 8);
    std::memcpy(b.data() + 24, &avail, 8);
    std::memcpy(b.data() + 32, &log, 8);
    std::vector<UniqueFd> fds;
    Message m;
    ASSERT_TRUE(decode_with(header_for(Request::kSetVringAddr, 40), b, fds, &m));
    const auto& a = std::get<VringAddressPayload>(m.payload);
    EXPECT_EQ(a.index, 1u);
    EXPECT_EQ(a.addresses.desc_user_addr, desc);
    EXPECT_EQ(a.addresses.used_user_addr, used);
    EXPECT_EQ(a.addresses.avail_user_addr, avail);
    EXPECT_EQ(a.addresses.log_guest_addr, log);
}

TEST(VhostUserMessage, RefusesVersionOtherThanOne) {
    for (uint32_t flags : {0u, 2u, 3u}) {
        std::vector<UniqueFd> fds;
        Message m;
        std::vector<uint8_t> empty;
        EXPECT_FALSE(decode_with(header_for(Request::kGetFeatures, 0, flags), empty, fds, &m))
            << "flags " << flags;
    }
    std::vector<UniqueFd> fds;
    Message m;
    std::vector<uint8_t> empty;
    EXPECT_TRUE(decode_with(header_for(Request::kGetFeatures, 0,
                                       kVersion | kFlagNeedReply), empty, fds, &m));
    EXPECT_TRUE(m.need_reply());
    EXPECT_FALSE(decode_with(header_for(Request::kGetFeatures, 0,
                                        kVersion | kFlagReply), empty, fds, &m));
}

TEST(VhostUserMessage, RefusesOversizeAndTruncatedPayload) {
    std::vector<UniqueFd> fds;
    Message m;
    std::vector<uint8_t> big(kMaxPayloadSize + 1, 0);
    EXPECT_FALSE(decode_with(header_for(Request::kSetFeatures, big.size()), big, fds, &m));
    // Unknown requests are framed up to kMaxPayloadSize, not beyond.
    Header unknown{999, kVersion, static_cast<uint32_t>(big.size())};
    EXPECT_FALSE(decode_with(unknown, big, fds, &m));
    // Header claims more than what arrived.
    std::vector<uint8_t> four(4, 0);
    EXPECT_FALSE(decode_with(header_for(Request::kSetFeatures, 8), four, fds, &m));
}

TEST(VhostUserMessage, VringIndexMustBeBelowLimit) {
    for (uint32_t index : {0u, 1u, 2u, 200u}) {
        std::vector<UniqueFd> fds;
        Message m;
        auto payload = state_bytes(index, 256);
        Status s = decode_with(header_for(Request::kSetVringNum, 8), payload, fds, &m);
        EXPECT_EQ(s.ok(), index < kLimits.vring_count) << "index " << index;
    }
    // A larger device accepts index 2.
    std::vector<UniqueFd> fds;
    Message m;
    auto payload = state_bytes(2, 256);
    EXPECT_TRUE(decode_with(header_for(Request::kSetVringNum, 8), payload, fds, &m,
                            DecodeLimits{4}));
    // Kick: the index lives in bits 0-7.
    auto kick = u64_bytes(2 | kVringNoFdFlag);
    EXPECT_FALSE(decode_with(header_for(Request::kSetVringKick, 8), kick, fds, &m));
}

TEST(VhostUserMessage, VringFdCountMustMatchNoFdFlag) {
    {
        std::vector<UniqueFd> fds = make_fds(1);
        int raw = fds[0].get();
        Message m;
        auto payload = u64_bytes(1);
        ASSERT_TRUE(decode_with(header_for(Request::kSetVringKick, 8), payload, fds, &m));
        auto& p = std::get<VringFdPayload>(m.payload);
        EXPECT_EQ(p.index, 1u);
        EXPECT_FALSE(p.no_fd);
        EXPECT_EQ(p.fd.get(), raw);   // Moved into the payload.
        EXPECT_FALSE(fds[0].valid());
    }
    {
        std::vector<UniqueFd> fds;
        Message m;
        auto payload = u64_bytes(kVringNoFdFlag);
        ASSERT_TRUE(decode_with(header_for(Request::kSetVringCall, 8), payload, fds, &m));
        EXPECT_TRUE(std::get<VringFdPayload>(m.payload).no_fd);
    }
    {
        std::vector<UniqueFd> fds;   // fd expected, none sent
        Message m;
        auto payload = u64_bytes(0);
        EXPECT_FALSE(decode_with(header_for(Request::kSetVringErr, 8), payload, fds, &m));
    }
    {
        std::vector<UniqueFd> fds = make_fds(1);   // no-fd flag, but one sent
        Message m;
        auto payload = u64_bytes(kVringNoFdFlag);
        EXPECT_FALSE(decode_with(header_for(Request::kSetVringKick, 8), payload, fds, &m));
    }
    {
        std::vector<UniqueFd> fds;
        Message m;
        auto payload = u64_bytes(uint64_t{1} << 9);   // reserved bit
        EXPECT_FALSE(decode_with(header_for(Request::kSetVringKick, 8), payload, fds, &m));
    }
}

TEST(VhostUserMessage, ExtraFdsAreClosed) {
    std::vector<int> raw;
    {
        std::vector<UniqueFd> fds = make_fds(3);
        for (auto& f : fds) {
            raw.push_back(f.get());
            ASSERT_FALSE(fd_is_closed(f.get()));
        }
        Message m;
        auto payload = state_bytes(0, 256);
        EXPECT_FALSE(decode_with(header_for(Request::kSetVringNum, 8), payload, fds, &m));
    }
    for (int fd : raw) {
        EXPECT_TRUE(fd_is_closed(fd)) << fd;
    }
    // Unsupported requests are decoded (to be refused) and their fds closed.
    raw.clear();
    {
        std::vector<UniqueFd> fds = make_fds(2);
        for (auto& f : fds) {
            raw.push_back(f.get());
        }
        Message m;
        std::vector<uint8_t> payload(16, 0);
        Header h{32, kVersion, 16};   // VHOST_USER_SET_INFLIGHT_FD
        ASSERT_TRUE(decode_with(h, payload, fds, &m));
        EXPECT_TRUE(std::holds_alternative<UnsupportedPayload>(m.payload));
    }
    for (int fd : raw) {
        EXPECT_TRUE(fd_is_closed(fd)) << fd;
    }
}

TEST(VhostUserMessage, MemTableRegionCountAndFds) {
    for (uint32_t count : {1u, 2u, 8u}) {
        std::vector<UniqueFd> fds = make_fds(count);
        Message m;
        auto payload = mem_table_bytes(count, count);
        ASSERT_TRUE(decode_with(header_for(Request::kSetMemTable, payload.size()),
                                payload, fds, &m)) << count;
        auto& t = std::get<MemoryTablePayload>(m.payload);
        EXPECT_EQ(t.count, count);
        EXPECT_EQ(t.regions[count - 1].guest_phys_addr, uint64_t{count - 1} << 30);
        EXPECT_EQ(t.regions[count - 1].memory_size, 1u << 20);
        EXPECT_TRUE(t.fds[count - 1].valid());
    }
    {
        std::vector<UniqueFd> fds;
        Message m;
        auto payload = mem_table_bytes(0, 0);
        EXPECT_FALSE(decode_with(header_for(Request::kSetMemTable, payload.size()),
                                 payload, fds, &m));
    }
    {
        std::vector<UniqueFd> fds = make_fds(9);
        std::vector<int> raw;
        for (auto& f : fds) {
            raw.push_back(f.get());
        }
        Message m;
        auto payload = mem_table_bytes(9, 9);
        EXPECT_FALSE(decode_with(header_for(Request::kSetMemTable, payload.size()),
                                 payload, fds, &m));
        fds.clear();
        for (int fd : raw) {
            EXPECT_TRUE(fd_is_closed(fd));
        }
    }
    {   // Count says 2, payload holds 1 region.
        std::vector<UniqueFd> fds = make_fds(2);
        Message m;
        auto payload = mem_table_bytes(2, 1);
        EXPECT_FALSE(decode_with(header_for(Request::kSetMemTable, payload.size()),
                                 payload, fds, &m));
    }
    {   // Two regions, one fd.
        std::vector<UniqueFd> fds = make_fds(1);
        Message m;
        auto payload = mem_table_bytes(2, 2);
        EXPECT_FALSE(decode_with(header_for(Request::kSetMemTable, payload.size()),
                                 payload, fds, &m));
    }
    {   // Truncated before nregions.
        std::vector<UniqueFd> fds;
        Message m;
        std::vector<uint8_t> payload(4, 0);
        EXPECT_FALSE(decode_with(header_for(Request::kSetMemTable, 4), payload, fds, &m));
    }
}

TEST(VhostUserMessage, EncodesReplies) {
    EncodedReply r = encode_u64_reply(code(Request::kGetFeatures), 0xabcdef);
    ASSERT_EQ(r.size, kHeaderSize + 8);
    uint32_t fields[3];
    std::memcpy(fields, r.bytes.data(), 12);
    EXPECT_EQ(fields[0], code(Request::kGetFeatures));
    EXPECT_EQ(fields[1], kVersion | kFlagReply);
    EXPECT_EQ(fields[2], 8u);
    uint64_t value;
    std::memcpy(&value, r.bytes.data() + 12, 8);
    EXPECT_EQ(value, 0xabcdefu);

    EncodedReply s = encode_vring_state_reply(code(Request::kGetVringBase), {1, 77});
    ASSERT_EQ(s.size, kHeaderSize + 8);
    uint32_t state[2];
    std::memcpy(state, s.bytes.data() + 12, 8);
    EXPECT_EQ(state[0], 1u);
    EXPECT_EQ(state[1], 77u);
}

}  // namespace
}  // namespace nvh::vhost_user
