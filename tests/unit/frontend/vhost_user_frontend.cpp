// SPDX-License-Identifier: Apache-2.0
// vhost_user_frontend.cpp: see vhost_user_frontend.h.
#include "frontend/vhost_user_frontend.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/virtio_spec.h"
#include "ring/packed_ring.h"

namespace nvh::test {
namespace {

using vhost_user::Request;

template <typename T>
void append(std::vector<uint8_t>& out, T value) {
    const auto* p = reinterpret_cast<const uint8_t*>(&value);
    out.insert(out.end(), p, p + sizeof value);
}

template <typename T>
T read_at(const std::vector<uint8_t>& bytes, size_t offset) {
    T value{};
    std::memcpy(&value, bytes.data() + offset, sizeof value);
    return value;
}

uint32_t code(Request r) { return static_cast<uint32_t>(r); }

}  // namespace

VhostUserFrontend::VhostUserFrontend(std::string path) : path_(std::move(path)) {}

VhostUserFrontend::~VhostUserFrontend() { stop_listening(); }

bool VhostUserFrontend::listen() {
    stop_listening();
    ::unlink(path_.c_str());
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        return false;
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof addr.sun_path) {
        return false;
    }
    std::memcpy(addr.sun_path, path_.data(), path_.size());
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd.get(), 4) != 0) {
        return false;
    }
    listener_ = std::move(fd);
    return true;
}

void VhostUserFrontend::stop_listening() {
    if (listener_) {
        listener_.reset();
        ::unlink(path_.c_str());
    }
}

bool VhostUserFrontend::wait_readable(int fd, int timeout_ms) const {
    pollfd p{fd, POLLIN, 0};
    int n;
    do {
        n = ::poll(&p, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    return n == 1;
}

bool VhostUserFrontend::accept(int timeout_ms) {
    if (!listener_ || !wait_readable(listener_.get(), timeout_ms)) {
        return false;
    }
    conn_.reset(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    features_ = 0;
    protocol_features_ = 0;
    return conn_.valid();
}

void VhostUserFrontend::close_connection() { conn_.reset(); }

bool VhostUserFrontend::wait_peer_closed(int timeout_ms) {
    if (!conn_ || !wait_readable(conn_.get(), timeout_ms)) {
        return false;
    }
    // EOF, or ECONNRESET: the peer closed with a request of ours unread.
    uint8_t byte;
    ssize_t n = ::recv(conn_.get(), &byte, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

bool VhostUserFrontend::send_raw(std::span<const uint8_t> bytes,
                                 std::span<const int> fds) {
    if (!conn_) {
        return false;
    }
    iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    std::vector<char> control;
    if (!fds.empty()) {
        control.resize(CMSG_SPACE(sizeof(int) * fds.size()));
        msg.msg_control = control.data();
        msg.msg_controllen = control.size();
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    ssize_t n = ::sendmsg(conn_.get(), &msg, MSG_NOSIGNAL);
    return n == static_cast<ssize_t>(bytes.size());
}

bool VhostUserFrontend::send(uint32_t request, std::span<const uint8_t> payload,
                             std::span<const int> fds, uint32_t flags) {
    std::vector<uint8_t> bytes;
    append<uint32_t>(bytes, request);
    append<uint32_t>(bytes, vhost_user::kVersion | flags);
    append<uint32_t>(bytes, static_cast<uint32_t>(payload.size()));
    bytes.insert(bytes.end(), payload.begin(), payload.end());
    return send_raw(bytes, fds);
}

std::optional<VhostUserFrontend::Reply> VhostUserFrontend::receive(int timeout_ms) {
    std::vector<uint8_t> header(vhost_user::kHeaderSize);
    size_t have = 0;
    while (have < header.size()) {
        if (!conn_ || !wait_readable(conn_.get(), timeout_ms)) {
            return std::nullopt;
        }
        ssize_t n = ::recv(conn_.get(), header.data() + have, header.size() - have, 0);
        if (n <= 0) {
            return std::nullopt;
        }
        have += static_cast<size_t>(n);
    }
    Reply reply{read_at<uint32_t>(header, 0), read_at<uint32_t>(header, 4), {}};
    reply.payload.resize(read_at<uint32_t>(header, 8));
    have = 0;
    while (have < reply.payload.size()) {
        if (!wait_readable(conn_.get(), timeout_ms)) {
            return std::nullopt;
        }
        ssize_t n = ::recv(conn_.get(), reply.payload.data() + have,
                           reply.payload.size() - have, 0);
        if (n <= 0) {
            return std::nullopt;
        }
        have += static_cast<size_t>(n);
    }
    return reply;
}

bool VhostUserFrontend::send_set(uint32_t request, std::span<const uint8_t> payload,
                                 std::span<const int> fds) {
    bool ack = virtio::has(protocol_features_, vhost_user::kProtocolFReplyAck);
    if (!send(request, payload, fds, ack ? vhost_user::kFlagNeedReply : 0)) {
        return false;
    }
    last_ack_failed_ = false;
    if (!ack) {
        return true;
    }
    std::optional<Reply> reply = receive();
    if (!reply || reply->request != request || reply->payload.size() != 8 ||
        reply->flags != (vhost_user::kVersion | vhost_user::kFlagReply)) {
        return false;
    }
    last_ack_failed_ = read_at<uint64_t>(reply->payload, 0) != 0;
    return !last_ack_failed_;
}

std::optional<uint64_t> VhostUserFrontend::get_u64(Request request) {
    if (!send(code(request), {})) {
        return std::nullopt;
    }
    std::optional<Reply> reply = receive();
    if (!reply || reply->request != code(request) || reply->payload.size() != 8 ||
        reply->flags != (vhost_user::kVersion | vhost_user::kFlagReply)) {
        return std::nullopt;
    }
    return read_at<uint64_t>(reply->payload, 0);
}

bool VhostUserFrontend::set_u64(Request request, uint64_t value) {
    std::vector<uint8_t> payload;
    append<uint64_t>(payload, value);
    return send_set(code(request), payload);
}

bool VhostUserFrontend::set_owner() { return send_set(code(Request::kSetOwner), {}); }

bool VhostUserFrontend::set_vring_state(Request request, uint32_t index,
                                        uint32_t num) {
    std::vector<uint8_t> payload;
    append<uint32_t>(payload, index);
    append<uint32_t>(payload, num);
    return send_set(code(request), payload);
}

std::optional<uint32_t> VhostUserFrontend::get_vring_base(uint32_t index) {
    std::vector<uint8_t> payload;
    append<uint32_t>(payload, index);
    append<uint32_t>(payload, 0);
    if (!send(code(Request::kGetVringBase), payload)) {
        return std::nullopt;
    }
    std::optional<Reply> reply = receive();
    if (!reply || reply->request != code(Request::kGetVringBase) ||
        reply->payload.size() != 8 || read_at<uint32_t>(reply->payload, 0) != index) {
        return std::nullopt;
    }
    return read_at<uint32_t>(reply->payload, 4);
}

bool VhostUserFrontend::set_vring_addr(uint32_t index, const VringAddresses& a) {
    std::vector<uint8_t> payload;
    append<uint32_t>(payload, index);
    append<uint32_t>(payload, a.flags);
    append<uint64_t>(payload, a.desc_user_addr);
    append<uint64_t>(payload, a.used_user_addr);
    append<uint64_t>(payload, a.avail_user_addr);
    append<uint64_t>(payload, a.log_guest_addr);
    return send_set(code(Request::kSetVringAddr), payload);
}

bool VhostUserFrontend::set_vring_fd(Request request, uint32_t index, int fd) {
    std::vector<uint8_t> payload;
    uint64_t value = index | (fd < 0 ? vhost_user::kVringNoFdFlag : 0);
    append<uint64_t>(payload, value);
    if (fd < 0) {
        return send_set(code(request), payload);
    }
    int fds[1] = {fd};
    return send_set(code(request), payload, fds);
}

bool VhostUserFrontend::send_mem_table(const GuestMemoryFixture& mem) {
    std::vector<MemoryRegionSpec> specs = mem.specs();
    std::vector<UniqueFd> owned = mem.dup_fds();
    std::vector<uint8_t> payload;
    append<uint32_t>(payload, static_cast<uint32_t>(specs.size()));
    append<uint32_t>(payload, 0);   // padding
    std::vector<int> fds;
    for (size_t i = 0; i < specs.size(); i++) {
        append<uint64_t>(payload, specs[i].guest_phys_addr);
        append<uint64_t>(payload, specs[i].memory_size);
        append<uint64_t>(payload, specs[i].userspace_addr);
        append<uint64_t>(payload, specs[i].mmap_offset);
        fds.push_back(owned[i].get());
    }
    return send_set(code(Request::kSetMemTable), payload, fds);   // `owned`
                                                                // closes ours.
}

bool VhostUserFrontend::negotiate(uint64_t features, uint64_t protocol_features) {
    if (!set_owner()) {
        return false;
    }
    std::optional<uint64_t> offered = get_u64(Request::kGetFeatures);
    if (!offered) {
        return false;
    }
    offered_features_ = *offered;
    if (virtio::has(offered_features_, virtio::kFProtocolFeatures) &&
        virtio::has(features, virtio::kFProtocolFeatures)) {
        std::optional<uint64_t> proto = get_u64(Request::kGetProtocolFeatures);
        if (!proto || !set_u64(Request::kSetProtocolFeatures, protocol_features)) {
            return false;
        }
        offered_protocol_features_ = *proto;
        protocol_features_ = protocol_features;
        if (virtio::has(protocol_features, vhost_user::kProtocolFMq)) {
            std::optional<uint64_t> n = get_u64(Request::kGetQueueNum);
            if (!n) {
                return false;
            }
            queue_num_ = *n;
        }
    }
    if (!set_u64(Request::kSetFeatures, features)) {
        return false;
    }
    features_ = features;
    return true;
}

bool VhostUserFrontend::setup_vring(uint32_t index, uint16_t num, uint32_t base,
                                    const VringAddresses& addresses, int kick_fd,
                                    int call_fd) {
    bool ok = set_vring_state(Request::kSetVringNum, index, num) &&
              set_vring_state(Request::kSetVringBase, index, base) &&
              set_vring_addr(index, addresses) &&
              set_vring_fd(Request::kSetVringCall, index, call_fd) &&
              set_vring_fd(Request::kSetVringKick, index, kick_fd);
    if (ok && virtio::has(features_, virtio::kFProtocolFeatures)) {
        ok = set_vring_state(Request::kSetVringEnable, index, 1);
    }
    return ok;
}

bool VhostUserFrontend::setup_vring(uint32_t index, const SplitRingDriver& ring,
                                    int kick_fd, int call_fd) {
    return setup_vring(index, ring.num(), 0, ring.addresses(), kick_fd, call_fd);
}

bool VhostUserFrontend::setup_vring(uint32_t index, const PackedRingDriver& ring,
                                    int kick_fd, int call_fd) {
    const PackedBase fresh{0, true, 0, true};   // virtio 1.2, 2.8.1
    return setup_vring(index, ring.num(), fresh.encode(), ring.addresses(), kick_fd,
                       call_fd);
}

}  // namespace nvh::test
