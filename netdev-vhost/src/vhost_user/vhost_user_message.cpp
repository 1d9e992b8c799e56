// SPDX-License-Identifier: Apache-2.0
// vhost_user_message.cpp: see vhost_user_message.h.
#include "vhost_user/vhost_user_message.h"

#include <cerrno>
#include <cstring>

namespace nvh::vhost_user {
namespace {

// Sizes of the payloads on the wire (vhost-user.rst, "Message Specification").
constexpr uint32_t kU64Size = 8;
constexpr uint32_t kVringStateSize = 8;
constexpr uint32_t kVringAddressSize = 4 + 4 + 4 * 8;   // index, flags, 4 addrs
constexpr uint32_t kMemoryTableHeaderSize = 4 + 4;      // nregions, padding
constexpr uint32_t kMemoryRegionSize = 4 * 8;
constexpr uint32_t kLogDescriptionSize = 2 * 8;          // mmap_size, offset

template <typename T>
T read_at(std::span<const uint8_t> bytes, size_t offset) {
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof value);
    return value;
}

template <typename T>
void write_at(std::span<uint8_t> bytes, size_t offset, T value) {
    std::memcpy(bytes.data() + offset, &value, sizeof value);
}

Error malformed(const char* what) { return Error{EPROTO, what}; }

// Every request in this table has a payload of exactly `size` bytes and
// carries no fd; the others are decoded by their own functions below.
struct FixedLayout {
    Request request;
    uint32_t size;
};
constexpr FixedLayout kFixedLayouts[] = {
    {Request::kGetFeatures, 0},
    {Request::kSetFeatures, kU64Size},
    {Request::kSetOwner, 0},
    {Request::kResetOwner, 0},
    {Request::kSetVringNum, kVringStateSize},
    {Request::kSetVringAddr, kVringAddressSize},
    {Request::kSetVringBase, kVringStateSize},
    {Request::kGetVringBase, kVringStateSize},
    {Request::kGetProtocolFeatures, 0},
    {Request::kSetProtocolFeatures, kU64Size},
    {Request::kGetQueueNum, 0},
    {Request::kSetVringEnable, kVringStateSize},
    // vhost-user.rst, VHOST_USER_SEND_RARP / VHOST_USER_NET_SET_MTU /
    // VHOST_USER_SET_STATUS: a u64; GET_STATUS: no payload.
    {Request::kSendRarp, kU64Size},
    {Request::kNetSetMtu, kU64Size},
    {Request::kSetStatus, kU64Size},
    {Request::kGetStatus, 0},
};

const FixedLayout* find_fixed_layout(uint32_t request) {
    for (const FixedLayout& layout : kFixedLayouts) {
        if (static_cast<uint32_t>(layout.request) == request) {
            return &layout;
        }
    }
    return nullptr;
}

Status decode_fixed(const FixedLayout& layout, std::span<const uint8_t> payload,
                    size_t fd_count, const DecodeLimits& limits, Payload* out) {
    // vhost-user.rst, "Message Specification": the size field is the exact
    // size of the request's payload.
    if (payload.size() != layout.size) {
        return malformed("payload size does not match the request");
    }
    // Only SET_MEM_TABLE, SET_VRING_KICK/CALL/ERR carry fds among these
    // requests (vhost-user.rst, "Front-end message types").
    if (fd_count != 0) {
        return malformed("request carries unexpected file descriptors");
    }
    switch (layout.request) {
    case Request::kSetFeatures:
    case Request::kSetProtocolFeatures:
    case Request::kSendRarp:
    case Request::kNetSetMtu:
    case Request::kSetStatus:
        *out = read_at<uint64_t>(payload, 0);
        return Status::Ok();
    case Request::kSetVringNum:
    case Request::kSetVringBase:
    case Request::kGetVringBase:
    case Request::kSetVringEnable: {
        VringState state{read_at<uint32_t>(payload, 0),
                         read_at<uint32_t>(payload, 4)};
        if (state.index >= limits.vring_count) {
            return malformed("vring index out of range");
        }
        *out = state;
        return Status::Ok();
    }
    case Request::kSetVringAddr: {
        VringAddressPayload address{};
        address.index = read_at<uint32_t>(payload, 0);
        address.addresses.flags = read_at<uint32_t>(payload, 4);
        address.addresses.desc_user_addr = read_at<uint64_t>(payload, 8);
        address.addresses.used_user_addr = read_at<uint64_t>(payload, 16);
        address.addresses.avail_user_addr = read_at<uint64_t>(payload, 24);
        address.addresses.log_guest_addr = read_at<uint64_t>(payload, 32);
        if (address.index >= limits.vring_count) {
            return malformed("vring index out of range");
        }
        *out = address;
        return Status::Ok();
    }
    default:
        *out = NoPayload{};
        return Status::Ok();
    }
}

// SET_VRING_KICK/CALL/ERR (vhost-user.rst): u64 with the index in bits 0-7
// and the "no fd" flag in bit 8; exactly one fd unless that flag is set.
Status decode_vring_fd(std::span<const uint8_t> payload,
                       std::span<UniqueFd> fds, const DecodeLimits& limits,
                       Payload* out) {
    if (payload.size() != kU64Size) {
        return malformed("payload size does not match the request");
    }
    uint64_t value = read_at<uint64_t>(payload, 0);
    if ((value & ~(kVringIndexMask | kVringNoFdFlag)) != 0) {
        return malformed("reserved bits set in vring fd request");
    }
    VringFdPayload& result = out->emplace<VringFdPayload>();
    result.index = static_cast<uint32_t>(value & kVringIndexMask);
    result.no_fd = (value & kVringNoFdFlag) != 0;
    if (result.index >= limits.vring_count) {
        return malformed("vring index out of range");
    }
    size_t expected_fds = result.no_fd ? 0 : 1;
    if (fds.size() != expected_fds) {
        return malformed("fd count does not match the no-fd flag");
    }
    if (!result.no_fd) {
        result.fd = std::move(fds[0]);
    }
    return Status::Ok();
}

// SET_MEM_TABLE (vhost-user.rst, "Memory regions description"): 1..8
// regions, the size covers exactly nregions regions, one fd per region.
Status decode_memory_table(std::span<const uint8_t> payload,
                           std::span<UniqueFd> fds, Payload* out) {
    if (payload.size() < kMemoryTableHeaderSize) {
        return malformed("memory table shorter than its header");
    }
    uint32_t count = read_at<uint32_t>(payload, 0);
    if (count == 0 || count > GuestMemory::kMaxRegions) {
        return malformed("memory table region count outside 1..8");
    }
    if (payload.size() != kMemoryTableHeaderSize + count * kMemoryRegionSize) {
        return malformed("memory table size does not match its region count");
    }
    if (fds.size() != count) {
        return malformed("memory table fd count does not match its regions");
    }
    MemoryTablePayload& table = out->emplace<MemoryTablePayload>();
    table.count = count;
    for (uint32_t i = 0; i < count; i++) {
        size_t at = kMemoryTableHeaderSize + i * kMemoryRegionSize;
        table.regions[i].guest_phys_addr = read_at<uint64_t>(payload, at);
        table.regions[i].memory_size = read_at<uint64_t>(payload, at + 8);
        table.regions[i].userspace_addr = read_at<uint64_t>(payload, at + 16);
        table.regions[i].mmap_offset = read_at<uint64_t>(payload, at + 24);
        table.fds[i] = std::move(fds[i]);
    }
    return Status::Ok();
}

// SET_LOG_BASE (vhost-user.rst, "Log description"): mmap_size and
// mmap_offset, and the log's memory fd.  Only the shared-memory form
// (VHOST_USER_PROTOCOL_F_LOG_SHMFD) exists for a user-space backend, so
// exactly one fd.
Status decode_log_base(std::span<const uint8_t> payload, std::span<UniqueFd> fds,
                       Payload* out) {
    if (payload.size() != kLogDescriptionSize) {
        return malformed("payload size does not match the request");
    }
    if (fds.size() != 1) {
        return malformed("SET_LOG_BASE without exactly one fd");
    }
    LogBasePayload& log = out->emplace<LogBasePayload>();
    log.mmap_size = read_at<uint64_t>(payload, 0);
    log.mmap_offset = read_at<uint64_t>(payload, 8);
    log.fd = std::move(fds[0]);
    return Status::Ok();
}

// SET_LOG_FD (vhost-user.rst, VHOST_USER_SET_LOG_FD): one fd; the payload
// is N/A, so an empty one, or the u64 some frontends send with every
// fd-carrying request.
Status decode_log_fd(std::span<const uint8_t> payload, std::span<UniqueFd> fds,
                     Payload* out) {
    if (payload.size() != 0 && payload.size() != kU64Size) {
        return malformed("payload size does not match the request");
    }
    if (fds.size() != 1) {
        return malformed("SET_LOG_FD without exactly one fd");
    }
    out->emplace<LogFdPayload>().fd = std::move(fds[0]);
    return Status::Ok();
}

}  // namespace

Header parse_header(std::span<const uint8_t, kHeaderSize> bytes) {
    std::span<const uint8_t> all(bytes.data(), bytes.size());
    return Header{read_at<uint32_t>(all, 0), read_at<uint32_t>(all, 4),
                  read_at<uint32_t>(all, 8)};
}

const char* request_name(uint32_t request) {
    switch (static_cast<Request>(request)) {
    case Request::kGetFeatures: return "GET_FEATURES";
    case Request::kSetFeatures: return "SET_FEATURES";
    case Request::kSetOwner: return "SET_OWNER";
    case Request::kResetOwner: return "RESET_OWNER";
    case Request::kSetMemTable: return "SET_MEM_TABLE";
    case Request::kSetLogBase: return "SET_LOG_BASE";
    case Request::kSetLogFd: return "SET_LOG_FD";
    case Request::kSetVringNum: return "SET_VRING_NUM";
    case Request::kSetVringAddr: return "SET_VRING_ADDR";
    case Request::kSetVringBase: return "SET_VRING_BASE";
    case Request::kGetVringBase: return "GET_VRING_BASE";
    case Request::kSetVringKick: return "SET_VRING_KICK";
    case Request::kSetVringCall: return "SET_VRING_CALL";
    case Request::kSetVringErr: return "SET_VRING_ERR";
    case Request::kGetProtocolFeatures: return "GET_PROTOCOL_FEATURES";
    case Request::kSetProtocolFeatures: return "SET_PROTOCOL_FEATURES";
    case Request::kGetQueueNum: return "GET_QUEUE_NUM";
    case Request::kSetVringEnable: return "SET_VRING_ENABLE";
    case Request::kSendRarp: return "SEND_RARP";
    case Request::kNetSetMtu: return "NET_SET_MTU";
    case Request::kGetConfig: return "GET_CONFIG";
    case Request::kSetConfig: return "SET_CONFIG";
    case Request::kSetStatus: return "SET_STATUS";
    case Request::kGetStatus: return "GET_STATUS";
    }
    return "UNKNOWN";
}

Status decode(const Header& header, std::span<const uint8_t> payload,
              std::span<UniqueFd> fds, const DecodeLimits& limits,
              Message* out) {
    // The decoder moves the fds the payload keeps out of `fds`; whatever
    // is left there is closed with the caller's UniqueFds.
    //
    // vhost-user.rst, "Header": version (bits 0-1) is 0x1; bit 2 marks a
    // reply, which a front-end never sends to a back-end.
    if ((header.flags & kFlagVersionMask) != kVersion) {
        return malformed("header version is not 1");
    }
    if ((header.flags & kFlagReply) != 0) {
        return malformed("front-end sent a message with the reply flag");
    }
    if (header.size > kMaxPayloadSize) {
        return malformed("payload size larger than any request");
    }
    if (header.size != payload.size()) {
        return malformed("payload shorter than the header's size");
    }

    out->request = header.request;
    out->flags = header.flags;
    if (const FixedLayout* layout = find_fixed_layout(header.request)) {
        return decode_fixed(*layout, payload, fds.size(), limits, &out->payload);
    }
    switch (static_cast<Request>(header.request)) {
    case Request::kSetMemTable:
        return decode_memory_table(payload, fds, &out->payload);
    case Request::kSetLogBase:
        return decode_log_base(payload, fds, &out->payload);
    case Request::kSetLogFd:
        return decode_log_fd(payload, fds, &out->payload);
    case Request::kSetVringKick:
    case Request::kSetVringCall:
    case Request::kSetVringErr:
        return decode_vring_fd(payload, fds, limits, &out->payload);
    default:
        // Not implemented here: framed correctly, so it can be refused
        // without dropping the connection.  Its fds are closed by the caller.
        out->payload = UnsupportedPayload{};
        return Status::Ok();
    }
}

namespace {

void write_reply_header(std::span<uint8_t> bytes, uint32_t request,
                        uint32_t size) {
    // vhost-user.rst, "Header": replies carry version 1 and the reply flag.
    write_at<uint32_t>(bytes, 0, request);
    write_at<uint32_t>(bytes, 4, kVersion | kFlagReply);
    write_at<uint32_t>(bytes, 8, size);
}

}  // namespace

EncodedReply encode_u64_reply(uint32_t request, uint64_t value) {
    EncodedReply reply;
    std::span<uint8_t> bytes(reply.bytes);
    write_reply_header(bytes, request, kU64Size);
    write_at<uint64_t>(bytes, kHeaderSize, value);
    reply.size = kHeaderSize + kU64Size;
    return reply;
}

EncodedReply encode_empty_reply(uint32_t request) {
    EncodedReply reply;
    write_reply_header(std::span<uint8_t>(reply.bytes), request, 0);
    reply.size = kHeaderSize;
    return reply;
}

EncodedReply encode_vring_state_reply(uint32_t request, VringState state) {
    EncodedReply reply;
    std::span<uint8_t> bytes(reply.bytes);
    write_reply_header(bytes, request, kVringStateSize);
    write_at<uint32_t>(bytes, kHeaderSize, state.index);
    write_at<uint32_t>(bytes, kHeaderSize + 4, state.num);
    reply.size = kHeaderSize + kVringStateSize;
    return reply;
}

}  // namespace nvh::vhost_user
