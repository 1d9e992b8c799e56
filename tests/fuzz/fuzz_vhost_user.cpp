// SPDX-License-Identifier: Apache-2.0
// fuzz_vhost_user.cpp: a frontend's message stream, with file descriptors,
// through the decoder (vhost_user_message.h) and the MessageHandler, as
// Device::on_message applies it; after every message the data path runs a
// burst on each started queue, so the memory tables, ring addresses, bases
// and dirty logs the stream set up are really walked.
//
// The socket framing is Session's (a header, then its payload, fds with
// the first byte): this target applies the same limits to the input, so a
// message Session would refuse ends the stream like a closed connection.
//
// Input (fuzz_input.h; make_corpus.py writes seeds in it): messages,
// each
//   u8  fd count (low 4 bits; more than kMaxFds ends the stream)
//   u32 request, u32 flags, u32 payload size (> kMaxPayloadSize ends it)
//   the payload
//   per fd: u8 kind: bit 0 clear = a memfd, set = an eventfd;
//           a memfd then has u8 size in pages - 1 (mod 32) and
//           u16 n, followed by n bytes written at its start
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <vector>

#include "fuzz_input.h"
#include "fuzz_queues.h"
#include "vhost_user/message_handler.h"
#include "vhost_user/vhost_user_message.h"

namespace {

using nvh::UniqueFd;
using nvh::fuzz::FuzzInput;
namespace vhost_user = nvh::vhost_user;

constexpr uint32_t kQueuePairs = 2;
constexpr int kMaxMessages = 64;

// Numbers of the fds made for the current input: all must be closed once
// the handler is reset and the queues are gone (no fd leaks).
std::vector<int>& made_fds() {
    static std::vector<int> fds;
    return fds;
}

UniqueFd make_fd(FuzzInput& in) {
    const uint8_t kind = in.u8();
    if (kind & 1) {
        UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        made_fds().push_back(fd.get());
        return fd;
    }
    UniqueFd fd(::memfd_create("nvh-fuzz", MFD_CLOEXEC));
    if (!fd) {
        __builtin_trap();
    }
    made_fds().push_back(fd.get());
    const off_t size = (off_t{in.u8()} % 32 + 1) * 4096;
    if (::ftruncate(fd.get(), size) != 0) {
        __builtin_trap();
    }
    std::span<const uint8_t> content = in.bytes(in.u16());
    if (content.size() > static_cast<size_t>(size)) {
        content = content.first(static_cast<size_t>(size));
    }
    if (!content.empty() &&
        ::pwrite(fd.get(), content.data(), content.size(), 0) !=
            static_cast<ssize_t>(content.size())) {
        __builtin_trap();
    }
    return fd;
}

// One connection: the messages of `in` until the stream ends or breaks a
// rule, then the reset that a disconnect does.
void run_connection(FuzzInput& in) {
    nvh::MessageHandler::QueueArray queues;
    nvh::MessageHandler handler(queues, kQueuePairs,
                                nvh::kOfferedFeatures | nvh::kOffloadFeatures);
    for (int m = 0; m < kMaxMessages && !in.empty(); m++) {
        const size_t fd_count = in.u8() & 0xf;
        vhost_user::Header header;
        header.request = in.u32();
        header.flags = in.u32();
        header.size = in.u32();
        // Session::read_some: too many fds or an oversized payload close
        // the connection.
        if (fd_count > vhost_user::kMaxFds || header.size > vhost_user::kMaxPayloadSize) {
            break;
        }
        std::span<const uint8_t> payload = in.bytes(header.size);
        if (payload.size() != header.size) {
            break;   // The frontend stopped mid-message.
        }
        std::array<UniqueFd, vhost_user::kMaxFds> fds;
        for (size_t i = 0; i < fd_count; i++) {
            fds[i] = make_fd(in);
        }
        vhost_user::Message message;
        if (!vhost_user::decode(header, payload,
                                std::span<UniqueFd>(fds.data(), fd_count),
                                handler.decode_limits(), &message)) {
            break;
        }
        nvh::HandleOutcome outcome = handler.handle(message);
        if (outcome.verdict == nvh::HandleOutcome::Verdict::kFatal) {
            break;
        }
        nvh::fuzz::poll_queues(queues, handler.vring_count(), handler.take_announce());
    }
    handler.reset();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FuzzInput in(data, size);
    made_fds().clear();
    run_connection(in);
    for (int fd : made_fds()) {
        if (::fcntl(fd, F_GETFD) != -1) {
            __builtin_trap();   // An fd of the frontend's outlived the connection.
        }
    }
    return 0;
}
