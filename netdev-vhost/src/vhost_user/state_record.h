// SPDX-License-Identifier: Apache-2.0
// state_record.h: the state of one vhost-user connection, written by the
// process that hands it over at a planned restart and read by the process
// that resumes it (device/handover.cpp).
//
// The state is written as the vhost-user requests that would build it from
// nothing (SET_FEATURES, SET_MEM_TABLE, SET_VRING_NUM/BASE/ADDR/KICK/CALL,
// ...), in the wire format of vhost-user.rst, "Message Specification".  The
// process that resumes replays them through its own decoder and message
// handler, so every rule a frontend's request must pass, the resumed state
// passes too, and the format changes only when the protocol does.
//
// Layout (host byte order; the two processes run on the same host):
//   StateHeader
//   n_messages times: u32 fd count, the 12-byte vhost-user header, payload
// fds: the connected socket first, then each message's fds in order.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "memory/guest_memory.h"
#include "ring/virtqueue.h"
#include "vhost_user/vhost_user_message.h"

namespace nvh::vhost_user {

// The format's version.  A process that reads another version closes the
// connection instead (the frontend reconnects as after any disconnect).
inline constexpr uint32_t kStateVersion = 1;

struct StateHeader {
    char magic[8];                // "NVHSTATE"
    uint32_t version;             // kStateVersion
    uint32_t n_messages;
    uint64_t offered_features;    // GET_FEATURES of the writer's device.
    uint32_t max_queue_pairs;     // GET_QUEUE_NUM of the writer's device.
    uint32_t reserved;
    uint64_t n_connects;          // Connections made so far, kept across.
    uint64_t connected_ms;        // Age of the connection when written.
    uint64_t written_at_ms;       // CLOCK_BOOTTIME when written.
};

// One connection's state: bytes and fds (fds[0] is the socket).
struct StateRecord {
    std::vector<uint8_t> bytes;
    std::vector<UniqueFd> fds;
};

// Milliseconds of CLOCK_BOOTTIME (counts suspended time too).
uint64_t boottime_ms();

// Appends requests to a record.  Every fd is duplicated (close-on-exec), so
// the writer's own state is left as it was.  Not used on the data path.
class StateWriter {
public:
    StateWriter(StateRecord* record, const StateHeader& header);

    void u64(Request request, uint64_t value);
    void vring_state(Request request, uint32_t index, uint32_t num);
    void vring_addr(uint32_t index, const VringAddresses& addresses);
    // SET_VRING_KICK/CALL/ERR with a copy of `fd`, or the "no fd" flag if
    // fd < 0.
    Status vring_fd(Request request, uint32_t index, int fd);
    Status mem_table(const GuestMemory& memory);
    // Fills in the message count; call last.
    void finish();

private:
    void message(Request request, std::span<const uint8_t> payload, uint32_t n_fds);
    Status add_fd(int fd);

    StateRecord* record_;
    uint32_t n_messages_ = 0;
};

// Reads a record back, one message at a time.
class StateReader {
public:
    // Checks the header (magic, version, sizes); fails if the record cannot
    // be read by this build.
    static Result<StateReader> open(StateRecord* record);

    const StateHeader& header() const { return header_; }
    // The next message: its header, payload and fds.  Fails on a record
    // cut short; returns false in *more at the end.
    Status next(Header* header, std::span<const uint8_t>* payload,
                std::span<UniqueFd>* fds, bool* more);

private:
    explicit StateReader(StateRecord* record) : record_(record) {}

    StateRecord* record_;
    StateHeader header_{};
    size_t offset_ = sizeof(StateHeader);
    size_t next_fd_ = 1;   // fds[0] is the socket.
    uint32_t read_ = 0;
};

}  // namespace nvh::vhost_user
