// SPDX-License-Identifier: Apache-2.0
// vhost_user_message.h: the vhost-user wire format (vhost-user.rst,
// "Message Specification"): header, request codes, typed payloads, the
// decoder that checks each request's payload size and file-descriptor count,
// and the encoder of replies.
//
// Never assume a field from the frontend is sensible: decode() accepts a
// message only if its version, payload size, fd count and vring index are
// exactly what its request allows.  Every fd of a refused message is closed.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>

#include "memory/guest_memory.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "ring/virtqueue.h"

namespace nvh::vhost_user {

// ---- Header (vhost-user.rst, "Header") ------------------------------------
inline constexpr size_t kHeaderSize = 12;           // request, flags, size
inline constexpr uint32_t kFlagVersionMask = 0x3;   // bits 0-1: version
inline constexpr uint32_t kVersion = 0x1;
inline constexpr uint32_t kFlagReply = 1u << 2;     // bit 2: reply
inline constexpr uint32_t kFlagNeedReply = 1u << 3; // bit 3: need_reply

// Largest payload the session will frame.  Larger sizes are malformed: no
// request of vhost-user.rst comes close (SET_CONFIG, the largest, is 268).
inline constexpr uint32_t kMaxPayloadSize = 4096;

// Most fds one message can carry: SET_MEM_TABLE with
// VHOST_MEMORY_BASELINE_NREGIONS regions (vhost-user.rst, "Memory regions
// description").
inline constexpr size_t kMaxFds = GuestMemory::kMaxRegions;

struct Header {
    uint32_t request;
    uint32_t flags = 0;
    uint32_t size;
};

// Reads the 12-byte header (host byte order, as vhost-user.rst requires).
Header parse_header(std::span<const uint8_t, kHeaderSize> bytes);

// ---- Requests (vhost-user.rst, "Front-end message types") -----------------
enum class Request : uint32_t {
    kGetFeatures = 1,
    kSetFeatures = 2,
    kSetOwner = 3,
    kResetOwner = 4,
    kSetMemTable = 5,
    kSetLogBase = 6,
    kSetLogFd = 7,
    kSetVringNum = 8,
    kSetVringAddr = 9,
    kSetVringBase = 10,
    kGetVringBase = 11,
    kSetVringKick = 12,
    kSetVringCall = 13,
    kSetVringErr = 14,
    kGetProtocolFeatures = 15,
    kSetProtocolFeatures = 16,
    kGetQueueNum = 17,
    kSetVringEnable = 18,
    kSendRarp = 19,
    kNetSetMtu = 20,
    kGetConfig = 24,
    kSetConfig = 25,
    kSetStatus = 39,
    kGetStatus = 40,
};

// A printable name for logs ("UNKNOWN" for codes this backend does not know).
const char* request_name(uint32_t request);

// ---- Protocol features (vhost-user.rst, "Protocol features") --------------
inline constexpr unsigned kProtocolFMq = 0;
inline constexpr unsigned kProtocolFLogShmfd = 1;
inline constexpr unsigned kProtocolFRarp = 2;
inline constexpr unsigned kProtocolFReplyAck = 3;
inline constexpr unsigned kProtocolFNetMtu = 4;
inline constexpr unsigned kProtocolFConfig = 9;
inline constexpr unsigned kProtocolFStatus = 16;

// ---- Payloads -------------------------------------------------------------

// Bits of the u64 of SET_VRING_KICK/CALL/ERR (vhost-user.rst,
// VHOST_USER_SET_VRING_KICK): bits 0-7 vring index, bit 8 "no fd".
inline constexpr uint64_t kVringIndexMask = 0xff;
inline constexpr uint64_t kVringNoFdFlag = 1u << 8;

// "A vring state description": SET_VRING_NUM/BASE/ENABLE, GET_VRING_BASE.
struct VringState {
    uint32_t index = 0;
    uint32_t num = 0;
};

// "Vring address description": SET_VRING_ADDR.
struct VringAddressPayload {
    uint32_t index = 0;
    VringAddresses addresses;
};

// SET_VRING_KICK/CALL/ERR: fd is invalid iff no_fd.
struct VringFdPayload {
    uint32_t index = 0;
    bool no_fd = false;
    UniqueFd fd;
};

// "Memory regions description": SET_MEM_TABLE.  fds[i] maps regions[i].
struct MemoryTablePayload {
    uint32_t count = 0;
    std::array<MemoryRegionSpec, GuestMemory::kMaxRegions> regions{};
    std::array<UniqueFd, GuestMemory::kMaxRegions> fds{};
};

// "Log description": SET_LOG_BASE with VHOST_USER_PROTOCOL_F_LOG_SHMFD,
// the shared bitmap of mmap_size bytes at mmap_offset in fd.
struct LogBasePayload {
    uint64_t mmap_size = 0;
    uint64_t mmap_offset = 0;
    UniqueFd fd;
};

// SET_LOG_FD: the eventfd the backend may signal when it has written the log.
struct LogFdPayload {
    UniqueFd fd;
};

struct NoPayload {};

// A request this backend does not implement: framed correctly, its payload
// skipped and its fds closed, so the handler can refuse it cleanly.
struct UnsupportedPayload {};

using Payload = std::variant<NoPayload, uint64_t, VringState,
                             VringAddressPayload, VringFdPayload,
                             MemoryTablePayload, LogBasePayload, LogFdPayload,
                             UnsupportedPayload>;

struct Message {
    uint32_t request = 0;   // A Request value, or an unknown code.
    uint32_t flags = 0;
    Payload payload;

    Request known_request() const { return static_cast<Request>(request); }
    bool need_reply() const { return (flags & kFlagNeedReply) != 0; }
};

// What the decoder needs to know about the device.
struct DecodeLimits {
    uint32_t vring_count;   // Indexes >= this are malformed (2 * queue pairs).
};

// Decodes one complete message.  `fds` are the descriptors that arrived with
// it: the decoder moves out those the payload keeps; the rest stay in `fds`
// and are closed with the caller's UniqueFds (so every fd of a refused or
// unsupported message is closed).  Fails on a version other than 1, a reply flag, a payload size
// other than the request's, a wrong fd count, a vring index out of range or
// a region count outside 1..8.  On success fills *out.
Status decode(const Header& header, std::span<const uint8_t> payload,
              std::span<UniqueFd> fds, const DecodeLimits& limits,
              Message* out);

// ---- Replies --------------------------------------------------------------

// One encoded reply: header + at most a vring state or a u64.
struct EncodedReply {
    std::array<uint8_t, kHeaderSize + 8> bytes{};
    size_t size = 0;

    std::span<const uint8_t> span() const { return {bytes.data(), size}; }
};

// A reply carrying a u64 (GET_FEATURES, GET_PROTOCOL_FEATURES,
// GET_QUEUE_NUM, and the REPLY_ACK status).
EncodedReply encode_u64_reply(uint32_t request, uint64_t value);
// A reply carrying a vring state (GET_VRING_BASE).
EncodedReply encode_vring_state_reply(uint32_t request, VringState state);
// A reply without payload (SET_LOG_BASE with LOG_SHMFD).
EncodedReply encode_empty_reply(uint32_t request);

}  // namespace nvh::vhost_user
