// SPDX-License-Identifier: Apache-2.0
// keeper_link.cpp: see keeper_link.h.
#include "device/keeper_link.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace nvh::keeper {
namespace {

// "NVK1": the frame format's version is its last byte.  A keeper of another
// format refuses the frames (the connections then close and reconnect).
constexpr uint32_t kMagic = 0x314b564e;
constexpr size_t kFrameHeader = 16;
// Largest frame: a record of 16 queue pairs is a few KB.
constexpr size_t kMaxFrame = 256 * 1024;
// Most fds one record carries: the socket, 8 regions, 3 per vring.
constexpr size_t kMaxFrameFds = 1 + 8 + 3 * 32;

bool wait_readable(int sock, int timeout_ms) {
    pollfd p{sock, POLLIN, 0};
    int n;
    do {
        n = ::poll(&p, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    return n > 0;
}

}  // namespace

Status send_frame(int sock, Op op, std::string_view key,
                  const vhost_user::StateRecord* record) {
    const size_t data_len = record ? record->bytes.size() : 0;
    const size_t n_fds = record ? record->fds.size() : 0;
    if (key.size() > 4096 || data_len > kMaxFrame - kFrameHeader - key.size() ||
        n_fds > kMaxFrameFds) {
        return Error{E2BIG, "handover record too large"};
    }
    uint32_t head[4] = {kMagic, static_cast<uint32_t>(op), static_cast<uint32_t>(key.size()),
                        static_cast<uint32_t>(data_len)};
    iovec iov[3] = {{head, sizeof head},
                    {const_cast<char*>(key.data()), key.size()},
                    {record ? const_cast<uint8_t*>(record->bytes.data()) : nullptr, data_len}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = 3;
    std::vector<uint8_t> control(CMSG_SPACE(sizeof(int) * (n_fds ? n_fds : 1)));
    if (n_fds > 0) {
        msg.msg_control = control.data();
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
        int* out = reinterpret_cast<int*>(CMSG_DATA(c));
        for (size_t i = 0; i < n_fds; i++) {
            out[i] = record->fds[i].get();
        }
    }
    ssize_t n;
    do {
        n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return Error{errno, "cannot send to the handover keeper"};
    }
    return Status::Ok();
}

Result<Frame> recv_frame(int sock, int timeout_ms) {
    if (timeout_ms >= 0 && !wait_readable(sock, timeout_ms)) {
        return Error{ETIMEDOUT, "no answer from the handover keeper"};
    }
    std::vector<uint8_t> buf(kMaxFrame);
    std::vector<uint8_t> control(CMSG_SPACE(sizeof(int) * kMaxFrameFds));
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    ssize_t n;
    do {
        n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return Error{errno, "cannot receive from the handover keeper"};
    }
    Frame frame;
    // Own every fd that came, whatever the frame turns out to be.
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            const int* in = reinterpret_cast<const int*>(CMSG_DATA(c));
            for (size_t i = 0; i < count; i++) {
                frame.record.fds.emplace_back(in[i]);
            }
        }
    }
    if (n == 0) {
        return Error{ECONNRESET, "the handover keeper closed the connection"};
    }
    uint32_t head[4];
    if (static_cast<size_t>(n) < kFrameHeader || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        return Error{EPROTO, "malformed handover frame"};
    }
    std::memcpy(head, buf.data(), sizeof head);
    if (head[0] != kMagic || kFrameHeader + size_t{head[2]} + head[3] != static_cast<size_t>(n)) {
        return Error{EPROTO, "malformed handover frame"};
    }
    frame.op = static_cast<Op>(head[1]);
    frame.key.assign(reinterpret_cast<const char*>(buf.data() + kFrameHeader), head[2]);
    const uint8_t* data = buf.data() + kFrameHeader + head[2];
    frame.record.bytes.assign(data, data + head[3]);
    return frame;
}

Status hand_to_keeper(const char* program, const char* socket_path,
                      uint32_t hold_ms, const NamedRecords& records) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
        return Error{errno, "socketpair() failed"};
    }
    UniqueFd ours(pair[0]);
    UniqueFd theirs(pair[1]);
    if (theirs.get() == 3) {
        // dup2(3, 3) would keep close-on-exec: move it first.
        theirs.reset(fcntl(pair[1], F_DUPFD_CLOEXEC, 4));
        if (!theirs.valid()) {
            return Error{errno, "fcntl() failed"};
        }
    }
    // The keeper gets its end of the pair as fd 3 (dup2 clears
    // close-on-exec); every other fd of this process is close-on-exec or
    // closed by the keeper itself at start.
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, theirs.get(), 3);
    std::string hold = std::to_string(hold_ms);
    char* argv[] = {const_cast<char*>(program), const_cast<char*>(socket_path),
                    hold.data(), nullptr};
    pid_t pid;
    int err = posix_spawn(&pid, program, &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (err != 0) {
        return Error{err, "cannot start the handover keeper"};
    }
    theirs.reset();
    // A keeper that does not read must not hold up the exit: sends time out.
    timeval bound{kAnswerTimeoutMs / 1000, (kAnswerTimeoutMs % 1000) * 1000};
    ::setsockopt(ours.get(), SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof bound);
    Status held = Status::Ok();
    for (const auto& [key, record] : records) {
        held = send_frame(ours.get(), Op::kPut, key, &record);
        if (!held) {
            break;
        }
    }
    if (held) {
        held = send_frame(ours.get(), Op::kEnd, {}, nullptr);
    }
    if (held) {
        Result<Frame> answer = recv_frame(ours.get(), kAnswerTimeoutMs);
        held = !answer ? Status(answer.error())
               : answer->op != Op::kHeld
                   ? Status(Error{EPROTO, "the handover keeper refused the records"})
                   : Status::Ok();
    }
    if (!held) {
        // Its records close with it: the frontends reconnect, as the caller
        // logs.
        ::kill(pid, SIGKILL);
    }
    return held;
}

namespace {

// A connection to the keeper at `socket_path`, or an invalid fd (*why says
// why).
UniqueFd connect_keeper(const char* socket_path, std::string* why) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (std::strlen(socket_path) >= sizeof addr.sun_path) {
        *why = "keeper socket path too long";
        return UniqueFd();
    }
    std::strcpy(addr.sun_path, socket_path);
    // Non-blocking: a keeper whose backlog is full (hung) fails at once
    // (EAGAIN) instead of holding up the caller; answers are waited for
    // with a bound (recv_frame).
    UniqueFd sock(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!sock.valid()) {
        *why = std::string("socket() failed: ") + std::strerror(errno);
        return UniqueFd();
    }
    if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        *why = errno == ENOENT || errno == ECONNREFUSED ? "no keeper"
                                                        : std::string("cannot reach the keeper: ") +
                                                              std::strerror(errno);
        return UniqueFd();
    }
    return sock;
}

}  // namespace

void release_keeper(const char* socket_path) {
    std::string why;
    UniqueFd sock = connect_keeper(socket_path, &why);
    if (sock.valid()) {
        (void)send_frame(sock.get(), Op::kRelease, {}, nullptr);
    }
}

bool take_from_keeper(const char* socket_path, const std::string& key,
                      vhost_user::StateRecord* record, std::string* why) {
    UniqueFd sock = connect_keeper(socket_path, why);
    if (!sock.valid()) {
        return false;
    }
    if (Status sent = send_frame(sock.get(), Op::kTake, key, nullptr); !sent) {
        *why = sent.error().what;
        return false;
    }
    Result<Frame> answer = recv_frame(sock.get(), kAnswerTimeoutMs);
    if (!answer) {
        *why = answer.error().what;
        return false;
    }
    if (answer->op != Op::kRecord || answer->key != key) {
        *why = "the keeper holds no connection for this socket";
        return false;
    }
    *record = std::move(answer->record);
    return true;
}

}  // namespace nvh::keeper
