// SPDX-License-Identifier: Apache-2.0
// hostile_fds.cpp: see hostile_fds.h.
#include "hostile_fds.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <span>

namespace nvh::fuzz {
namespace {

[[noreturn]] void fail() { __builtin_trap(); }

UniqueFd checked(int fd) {
    if (fd < 0) {
        fail();
    }
    return UniqueFd(fd);
}

UniqueFd duplicate(const UniqueFd& fd) {
    return checked(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
}

void write_all(int fd, std::span<const uint8_t> bytes, off_t at) {
    if (!bytes.empty() &&
        ::pwrite(fd, bytes.data(), bytes.size(), at) != static_cast<ssize_t>(bytes.size())) {
        fail();
    }
}

// A regular file nobody else can open, or a memfd where the file system
// has no O_TMPFILE.
UniqueFd anonymous_file() {
    int fd = ::open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        fd = ::memfd_create("nvh-fuzz-file", MFD_CLOEXEC);
    }
    return checked(fd);
}

// Writes into a pipe until it is full, then makes the writer blocking again.
void fill_pipe(int write_end) {
    static const std::array<uint8_t, 4096> block{};
    ::fcntl(write_end, F_SETFL, O_NONBLOCK);
    while (::write(write_end, block.data(), block.size()) > 0) {
    }
    ::fcntl(write_end, F_SETFL, 0);
}

}  // namespace

UniqueFd FrontendFds::make(FuzzInput& in) {
    const auto kind = static_cast<FdKind>(in.u8() % kKindCount);
    switch (kind) {
    case FdKind::kEventfd:
    case FdKind::kBlockingEventfd:
    case FdKind::kFullEventfd:
        return make_eventfd(kind);
    case FdKind::kPipeReadEnd:
        return make_pipe_read_end(in);
    case FdKind::kPipeWriteEnd:
        return make_pipe_write_end(in);
    case FdKind::kSocket:
        return make_socket();
    case FdKind::kMemfd:
    case FdKind::kTmpFile:
    case FdKind::kSparseFile:
        return make_file(kind, in);
    case FdKind::kDevNull:
        break;
    }
    return checked(::open("/dev/null", O_RDWR | O_CLOEXEC));
}

UniqueFd FrontendFds::make_eventfd(FdKind kind) {
    if (kind == FdKind::kEventfd) {
        return checked(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    }
    UniqueFd fd = checked(::eventfd(0, EFD_CLOEXEC));
    if (kind == FdKind::kFullEventfd) {
        // The most an eventfd counter holds: the next write of 1 blocks.
        const uint64_t most = 0xfffffffffffffffe;
        if (::write(fd.get(), &most, sizeof most) != sizeof most) {
            fail();
        }
    }
    keep(duplicate(fd));   // Shared: the frontend reads it as it likes.
    return fd;
}

UniqueFd FrontendFds::make_pipe_read_end(FuzzInput& in) {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) {
        fail();
    }
    UniqueFd read_end(ends[0]);
    UniqueFd write_end(ends[1]);
    static const std::array<uint8_t, 256> bytes{};
    const uint8_t queued = in.u8();
    if (queued != 0 && ::write(write_end.get(), bytes.data(), queued) != queued) {
        fail();
    }
    keep(std::move(write_end));   // Open, so a read of the empty pipe waits.
    return read_end;
}

UniqueFd FrontendFds::make_pipe_write_end(FuzzInput& in) {
    const uint8_t how = in.u8();
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) {
        fail();
    }
    UniqueFd read_end(ends[0]);
    UniqueFd write_end(ends[1]);
    if (how & 2) {
        fill_pipe(write_end.get());
    }
    if (how & 1) {
        keep(std::move(read_end));
    }
    return write_end;   // With no reader left, a write fails with EPIPE.
}

UniqueFd FrontendFds::make_socket() {
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
        fail();
    }
    UniqueFd sent(ends[0]);
    UniqueFd peer(ends[1]);
    // A read of 8 bytes waits for all 8, and only one is ever there; poll
    // still reports it readable.
    const int low_water = 8;
    ::setsockopt(sent.get(), SOL_SOCKET, SO_RCVLOWAT, &low_water, sizeof low_water);
    const uint8_t byte = 1;
    if (::write(peer.get(), &byte, 1) != 1) {
        fail();
    }
    keep(std::move(peer));
    return sent;
}

UniqueFd FrontendFds::make_file(FdKind kind, FuzzInput& in) {
    UniqueFd fd = kind == FdKind::kMemfd
                      ? checked(::memfd_create("nvh-fuzz", MFD_CLOEXEC))
                      : anonymous_file();
    const off_t unit = kind == FdKind::kSparseFile ? off_t{1} << 20 : 4096;
    const off_t size = (off_t{in.u8()} % (kind == FdKind::kSparseFile ? 64 : 32) + 1) * unit;
    if (::ftruncate(fd.get(), size) != 0) {
        fail();
    }
    std::span<const uint8_t> content = in.bytes(in.u16());
    if (content.size() > static_cast<size_t>(size)) {
        content = content.first(static_cast<size_t>(size));
    }
    write_all(fd.get(), content, 0);
    return fd;
}

void FrontendFds::drain_kept() {
    static std::array<uint8_t, 65536> sink;
    for (const UniqueFd& fd : kept_) {
        // Bounded: a kept fd is only ever written by the device.
        for (int reads = 0; reads < 4; reads++) {
            pollfd p{fd.get(), POLLIN, 0};
            if (::poll(&p, 1, 0) != 1 || !(p.revents & POLLIN) ||
                ::read(fd.get(), sink.data(), sink.size()) <= 0) {
                break;
            }
        }
    }
}

}  // namespace nvh::fuzz
