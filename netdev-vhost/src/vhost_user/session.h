// SPDX-License-Identifier: Apache-2.0
// session.h: the backend's end of one vhost-user connection: a non-blocking
// unix stream socket connected to the frontend's server socket, framing of
// incoming messages (header, then payload, with the fds that came with
// them) and sending of replies.  Used on the control thread only; never
// blocks.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/result.h"
#include "base/unique_fd.h"
#include "vhost_user/vhost_user_message.h"

struct msghdr;   // <sys/socket.h>

namespace nvh {

// Receives each complete message.  Returning an error stops reading; the
// owner then closes the session.
class MessageSink {
public:
    virtual Status on_message(const vhost_user::Header& header,
                              std::span<const uint8_t> payload,
                              std::span<UniqueFd> fds) = 0;

protected:
    ~MessageSink() = default;
};

class Session {
public:
    Session() = default;
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Connects to the unix socket at `path` (at most 107 bytes).  Fails with
    // the connect errno; ENOENT, ECONNREFUSED and EAGAIN mean the frontend
    // is not listening (yet).
    Status connect(const char* path);

    // Takes over a socket already connected to a frontend (a planned
    // restart, device/handover.cpp).  Sets it non-blocking.
    Status adopt(UniqueFd socket);

    // Reads what the socket has and hands every complete message to `sink`.
    // Fails on EOF, a socket error, a payload larger than any request or
    // more fds than any request carries.  Stops after a bounded number of
    // messages so one busy frontend cannot starve other devices; the fd
    // stays readable and the caller is called again.
    Status receive(MessageSink& sink);

    // Sends one reply.  A frontend that does not read its replies (socket
    // buffer full) is an error: the control thread never waits for it.
    Status send(std::span<const uint8_t> bytes);

    // Closes the socket and forgets any partial message.
    void close();

    bool connected() const { return socket_.valid(); }
    // Whether no part of a message has been read: the connection is between
    // two messages.
    bool idle() const { return header_have_ == 0 && fd_count_ == 0; }
    int fd() const { return socket_.get(); }
    // Whether receive() failed because the frontend closed its end (EOF):
    // the frontend went away in order, as QEMU, a guest shutting down or
    // testpmd exiting do, rather than breaking a rule or a socket error.
    // Until close().
    bool closed_by_frontend() const { return closed_by_frontend_; }

private:
    enum class ReadResult { kProgress, kWouldBlock };
    Result<ReadResult> read_some();
    // Where the next bytes of the current message go: the rest of its
    // header, or of its payload.
    std::span<uint8_t> unread_part();
    // Keeps the fds that came with `msg` for the current message.  Returns
    // false (closing the excess) if there are more than any request carries.
    bool take_fds(msghdr& msg);
    // Counts `n` bytes read into unread_part(); once the header is complete,
    // parses it and refuses a payload larger than any request.
    Status count_read(size_t n);
    void clear_message();

    UniqueFd socket_;
    // The message being assembled: header, then payload.
    std::array<uint8_t, vhost_user::kHeaderSize> header_bytes_{};
    size_t header_have_ = 0;
    vhost_user::Header header_{};
    std::array<uint8_t, vhost_user::kMaxPayloadSize> payload_{};
    size_t payload_have_ = 0;
    std::array<UniqueFd, vhost_user::kMaxFds> fds_{};
    size_t fd_count_ = 0;
    bool closed_by_frontend_ = false;
};

}  // namespace nvh
