// SPDX-License-Identifier: Apache-2.0
// session.cpp: see session.h.
#include "vhost_user/session.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

namespace nvh {
namespace {

// Messages handled per receive() call before yielding to other devices.
constexpr int kMessagesPerReceive = 64;

// Room for more fds than any request carries, so an excess is seen (and
// closed) rather than silently truncated.
constexpr size_t kFdsPerRead = vhost_user::kMaxFds + 8;

}  // namespace

Status Session::connect(const char* path) {
    close();
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    size_t len = std::strlen(path);
    if (len == 0 || len >= sizeof addr.sun_path) {
        return Error{EINVAL, "socket path empty or too long"};
    }
    std::memcpy(addr.sun_path, path, len);

    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        return Error{errno, "socket() failed"};
    }
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr),
                  sizeof addr) != 0) {
        // A unix stream connect either completes at once or fails (EAGAIN
        // when the listener's backlog is full): nothing to wait for.
        return Error{errno, "connect() failed"};
    }
    socket_ = std::move(fd);
    return Status::Ok();
}

void Session::clear_message() {
    header_have_ = 0;
    payload_have_ = 0;
    for (size_t i = 0; i < fd_count_; i++) {
        fds_[i].reset();
    }
    fd_count_ = 0;
}

Status Session::adopt(UniqueFd socket) {
    close();
    int flags = ::fcntl(socket.get(), F_GETFL);
    if (flags < 0 || ::fcntl(socket.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
        return Error{errno, "fcntl() on the handed-over socket failed"};
    }
    socket_ = std::move(socket);
    return Status::Ok();
}

void Session::close() {
    clear_message();
    socket_.reset();
    closed_by_frontend_ = false;
}

std::span<uint8_t> Session::unread_part() {
    if (header_have_ < vhost_user::kHeaderSize) {
        return {header_bytes_.data() + header_have_,
                vhost_user::kHeaderSize - header_have_};
    }
    return {payload_.data() + payload_have_, header_.size - payload_have_};
}

bool Session::take_fds(msghdr& msg) {
    bool too_many = (msg.msg_flags & MSG_CTRUNC) != 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int raw;
            std::memcpy(&raw, CMSG_DATA(c) + i * sizeof(int), sizeof raw);
            UniqueFd received(raw);
            if (fd_count_ < fds_.size()) {
                fds_[fd_count_++] = std::move(received);
            } else {
                too_many = true;   // `received` closes it.
            }
        }
    }
    return !too_many;
}

Status Session::count_read(size_t n) {
    if (header_have_ >= vhost_user::kHeaderSize) {
        payload_have_ += n;
        return Status::Ok();
    }
    header_have_ += n;
    if (header_have_ == vhost_user::kHeaderSize) {
        header_ = vhost_user::parse_header(header_bytes_);
        // vhost-user.rst, "Message Specification": the payload size comes
        // from the frontend; refuse before reading it.
        if (header_.size > vhost_user::kMaxPayloadSize) {
            return Error{EPROTO, "payload size larger than any request"};
        }
    }
    return Status::Ok();
}

// One recvmsg, never past the end of the current message, so the fds it
// returns belong to that message (the sender attaches them to its first
// byte, vhost-user.rst "Communication").
Result<Session::ReadResult> Session::read_some() {
    std::span<uint8_t> unread = unread_part();
    iovec iov{unread.data(), unread.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kFdsPerRead)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;

    ssize_t n = ::recvmsg(socket_.get(), &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
            return ReadResult::kWouldBlock;
        }
        return Error{errno, "error reading from the frontend"};
    }
    if (!take_fds(msg)) {
        // vhost-user.rst: no request carries more than
        // VHOST_MEMORY_BASELINE_NREGIONS fds.
        return Error{EPROTO, "message carries more fds than any request"};
    }
    if (n == 0) {
        if (header_have_ != 0) {
            // Not an orderly close: a message was cut short.
            return Error{ECONNRESET, "frontend closed the connection in the middle of a message"};
        }
        closed_by_frontend_ = true;
        return Error{ECONNRESET, "frontend closed the connection"};
    }
    Status counted = count_read(static_cast<size_t>(n));
    if (!counted) {
        return counted.error();
    }
    return ReadResult::kProgress;
}

Status Session::receive(MessageSink& sink) {
    int handled = 0;
    while (socket_.valid() && handled < kMessagesPerReceive) {
        Result<ReadResult> read = read_some();
        if (!read) {
            return read.error();
        }
        if (read.value() == ReadResult::kWouldBlock) {
            return Status::Ok();
        }
        if (header_have_ < vhost_user::kHeaderSize ||
            payload_have_ < header_.size) {
            continue;   // Partial message: keep reading.
        }
        Status status = sink.on_message(
            header_, std::span<const uint8_t>(payload_.data(), header_.size),
            std::span<UniqueFd>(fds_.data(), fd_count_));
        clear_message();   // Closes any fd the sink did not take.
        if (!status) {
            return status;
        }
        handled++;
    }
    return Status::Ok();
}

Status Session::send(std::span<const uint8_t> bytes) {
    if (!socket_.valid()) {
        return Error{ENOTCONN, "not connected"};
    }
    ssize_t n;
    do {
        n = ::send(socket_.get(), bytes.data(), bytes.size(),
                   MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    // A full socket buffer (nothing or only part of the reply fits) means
    // the frontend sends requests but does not read the replies; the
    // control thread never waits for it.
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return Error{EAGAIN, "frontend is not reading its replies"};
    }
    if (n < 0) {
        return Error{errno, "error sending a reply to the frontend"};
    }
    if (static_cast<size_t>(n) != bytes.size()) {
        return Error{EAGAIN, "frontend is not reading its replies"};
    }
    return Status::Ok();
}

}  // namespace nvh
