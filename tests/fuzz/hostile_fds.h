// SPDX-License-Identifier: Apache-2.0
// hostile_fds.h: the fds a hostile frontend may pass with a vhost-user
// message (docs/security.md, threat model): any type, blocking or not, some
// of them shared with the frontend, which keeps its own copy.  Their kinds
// and parameters come from the fuzzer's input.
//
// Input, per fd (fuzz_input.h):
//   u8 kind, mod kKindCount (FdKind below), then for
//     kMemfd, kTmpFile: u8 size in pages - 1 (mod 32), u16 n, n bytes
//                       written at its start;
//     kSparseFile:      u8 size in MiB - 1 (mod 64), u16 n, n bytes written
//                       at its start (the rest is a hole);
//     kPipeReadEnd:     u8 bytes queued in the pipe;
//     kPipeWriteEnd:    u8 bit 0 keep the read end, bit 1 fill the pipe;
//     the others:       nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "base/unique_fd.h"
#include "fuzz_input.h"

namespace nvh::fuzz {

enum class FdKind : uint8_t {
    kEventfd,           // Non-blocking, counter 0 (what QEMU sends).
    kBlockingEventfd,   // Blocking, counter 0.
    kFullEventfd,       // Blocking, counter 0xfffffffffffffffe: a write blocks.
    kPipeReadEnd,       // Blocking; the frontend keeps the write end.
    kPipeWriteEnd,      // Blocking; the read end kept, or closed (EPIPE).
    kSocket,            // AF_UNIX stream, blocking, SO_RCVLOWAT 8, one
                        // byte queued; the frontend keeps the peer.
    kMemfd,
    kTmpFile,           // A regular file (O_TMPFILE).
    kSparseFile,        // A regular file far larger than its contents.
    kDevNull,
};
inline constexpr uint8_t kKindCount = 10;

// The fds the frontend side of one connection made.  Each one made is sent
// and then closed by the frontend, as QEMU does; the copies listed as kept
// stay open on the frontend side until clear().
class FrontendFds {
public:
    // Makes one fd from `in`; the caller sends and closes it.
    UniqueFd make(FuzzInput& in);

    // Reads, without ever blocking, whatever the device wrote into the
    // kept copies: a frontend that serves its call fds (the guest's
    // interrupts) and reads its sockets.
    void drain_kept();

    // Closes the kept copies (the end of the connection).
    void clear() { kept_.clear(); }

private:
    UniqueFd make_eventfd(FdKind kind);
    UniqueFd make_pipe_read_end(FuzzInput& in);
    UniqueFd make_pipe_write_end(FuzzInput& in);
    UniqueFd make_socket();
    UniqueFd make_file(FdKind kind, FuzzInput& in);
    void keep(UniqueFd fd) { kept_.push_back(std::move(fd)); }

    std::vector<UniqueFd> kept_;
};

}  // namespace nvh::fuzz
