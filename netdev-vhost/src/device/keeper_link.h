// SPDX-License-Identifier: Apache-2.0
// keeper_link.h: the handover keeper, a small process (netdev-vhost-keeper)
// that holds the connections of a process exiting for a planned restart
// until the next process takes them, each by the frontend socket path it
// serves.
//
// Why a process of its own: a connection survives a restart only if some
// process keeps its fds open in between (the socket, the guest memory, the
// eventfds); the exiting process cannot, and the next one does not exist
// yet.  The keeper is started by the exiting process, with the records on
// a socket pair, binds the keeper socket in the switch's run directory once
// it holds them all, answers each TAKE with the record (or NONE), and exits
// when every record is taken or after the hold time, closing what is left:
// those frontends then see the connection close and reconnect as after any
// disconnect.
//
// Frames are SOCK_SEQPACKET messages: u32 magic, u32 op, u32 key length,
// u32 data length, key, data, and the record's fds as SCM_RIGHTS.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "vhost_user/state_record.h"

namespace nvh::keeper {

// How long the exiting process waits for the keeper to hold its records,
// and a resuming process for the keeper's answer.
inline constexpr int kAnswerTimeoutMs = 2000;

enum class Op : uint32_t {
    kPut = 1,      // Exiting process -> keeper: a record.
    kEnd = 2,      // Exiting process -> keeper: no more records.
    kHeld = 3,     // Keeper -> exiting process: listening, holds them all.
    kTake = 4,     // Resuming process -> keeper: the record of `key`.
    kRecord = 5,   // Keeper -> resuming process: the record.
    kNone = 6,     // Keeper -> resuming process: no record of `key`.
    kRelease = 7,  // Resuming process -> keeper: every port that will take
                   // a record has: close the rest and exit.
};

struct Frame {
    Op op = Op::kNone;
    std::string key;
    vhost_user::StateRecord record;   // fds only with kPut and kRecord.
};

// Sends one frame on a SOCK_SEQPACKET socket (the record's fds are copied
// by the kernel; the caller keeps its own).
Status send_frame(int sock, Op op, std::string_view key,
                  const vhost_user::StateRecord* record);
// Receives one frame, waiting at most timeout_ms (-1: no bound).
Result<Frame> recv_frame(int sock, int timeout_ms);

using NamedRecords = std::vector<std::pair<std::string, vhost_user::StateRecord>>;

// Starts `program` (netdev-vhost-keeper) with `records`, to listen at
// `socket_path` and hold them for `hold_ms`, and waits until it holds them.
Status hand_to_keeper(const char* program, const char* socket_path,
                      uint32_t hold_ms, const NamedRecords& records);

// Tells the keeper listening at `socket_path`, if any, to close what it
// still holds and exit.
void release_keeper(const char* socket_path);

// Asks the keeper listening at `socket_path`, if any, for the record of
// `key`.  Returns true with *record filled; false if there is no keeper, it
// holds nothing for `key` or it does not answer (*why says which).
bool take_from_keeper(const char* socket_path, const std::string& key,
                      vhost_user::StateRecord* record, std::string* why);

}  // namespace nvh::keeper
