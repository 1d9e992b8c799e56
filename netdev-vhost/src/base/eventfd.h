// SPDX-License-Identifier: Apache-2.0
// eventfd.h: what the core accepts as a vring's kick, call or err fd, and a
// read of an eventfd that never blocks.
//
// vhost-user.rst (VHOST_USER_SET_VRING_KICK, _CALL, _ERR) says the fd is an
// eventfd, but the frontend chooses what it passes.  A socket with
// SO_RCVLOWAT above what is queued polls readable and then blocks a read; a
// pipe's write blocks once it is full or raises SIGPIPE once its reader is
// gone; a regular file or memfd is always "readable".  So a vring fd is
// checked when it arrives and anything but an eventfd is refused.
//
// Even an eventfd is shared with the frontend: it may be blocking, the
// frontend may flip O_NONBLOCK on the open file at any time, and it may read
// the counter itself between our poll and our read.  A plain read() can
// then block the control thread that serves every device.  preadv2() with
// RWF_NOWAIT asks the kernel for a non-blocking read of this one call,
// whatever the file's O_NONBLOCK says: eventfd_read() returns EAGAIN on an
// empty counter when IOCB_NOWAIT is set (Linux >= 5.6, fs/eventfd.c).
#pragma once

#include <cstdint>

#include "base/result.h"

namespace nvh {

// Ok if `fd` is an eventfd.  The check: readlink("/proc/self/fd/N") names
// the file "anon_inode:[eventfd]".  fstat() cannot tell an eventfd from the
// other anonymous-inode files (epoll, timerfd, signalfd, ...), which share
// one inode; a path of a real file always starts with '/', and sockets,
// pipes and memfds read "socket:[N]", "pipe:[N]", "/memfd:... (deleted)",
// so the name cannot be forged by the frontend.  One system call, no file
// opened (reading /proc/self/fdinfo/N for "eventfd-count" would need three).
// Without /proc the fd cannot be checked and is refused (fail closed).
Status require_eventfd(int fd);

enum class EventfdRead {
    kEmpty,     // The counter was zero: nothing read.
    kCounted,   // The counter was non-zero and is now consumed.
    kFailed,    // Anything else (not an eventfd, RWF_NOWAIT unsupported).
};

// Reads the counter of eventfd `fd` if it is non-zero, without ever
// blocking (preadv2 with RWF_NOWAIT, see above).  There is deliberately no
// fallback to read(): on a kernel without RWF_NOWAIT support for eventfds
// the result is kFailed, and callers stop reading that fd.
EventfdRead read_eventfd_nowait(int fd);

}  // namespace nvh
