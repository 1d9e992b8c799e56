// SPDX-License-Identifier: Apache-2.0
// eventfd.cpp: see eventfd.h.
#include "base/eventfd.h"

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace nvh {

Status require_eventfd(int fd) {
    static constexpr char kEventfdName[] = "anon_inode:[eventfd]";
    char proc_path[32];
    std::snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", fd);
    // One byte more than the name: a longer target cannot match.
    char target[sizeof kEventfdName + 1];
    ssize_t n = ::readlink(proc_path, target, sizeof target);
    if (n < 0) {
        return Error{EBADF, "vring fd cannot be checked in /proc; vhost-user "
                            "vring fds must be eventfds"};
    }
    if (static_cast<size_t>(n) != sizeof kEventfdName - 1 ||
        std::memcmp(target, kEventfdName, sizeof kEventfdName - 1) != 0) {
        return Error{EINVAL, "vring fd is not an eventfd (vhost-user.rst: "
                            "vring kick/call/err fds are eventfds)"};
    }
    return Status::Ok();
}

EventfdRead read_eventfd_nowait(int fd) {
    uint64_t count;
    iovec iov{&count, sizeof count};
    ssize_t n;
    do {
        n = ::preadv2(fd, &iov, 1, -1, RWF_NOWAIT);
    } while (n < 0 && errno == EINTR);
    if (n == static_cast<ssize_t>(sizeof count)) {
        return EventfdRead::kCounted;
    }
    if (n < 0 && errno == EAGAIN) {
        return EventfdRead::kEmpty;
    }
    return EventfdRead::kFailed;
}

}  // namespace nvh
