// SPDX-License-Identifier: Apache-2.0
// state_record.cpp: see state_record.h.
#include "vhost_user/state_record.h"

#include <fcntl.h>
#include <time.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace nvh::vhost_user {
namespace {

constexpr char kMagic[8] = {'N', 'V', 'H', 'S', 'T', 'A', 'T', 'E'};

template <typename T>
void append(std::vector<uint8_t>& out, const T& value) {
    const auto* p = reinterpret_cast<const uint8_t*>(&value);
    out.insert(out.end(), p, p + sizeof value);
}

template <typename T>
T read_at(std::span<const uint8_t> bytes, size_t offset) {
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof value);
    return value;
}

}  // namespace

uint64_t boottime_ms() {
    timespec ts{};
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

// ---- StateWriter ----------------------------------------------------------

StateWriter::StateWriter(StateRecord* record, const StateHeader& header)
    : record_(record) {
    StateHeader h = header;
    std::memcpy(h.magic, kMagic, sizeof h.magic);
    h.version = kStateVersion;
    h.n_messages = 0;
    record_->bytes.clear();
    append(record_->bytes, h);
}

void StateWriter::message(Request request, std::span<const uint8_t> payload,
                          uint32_t n_fds) {
    append(record_->bytes, n_fds);
    append(record_->bytes, static_cast<uint32_t>(request));
    append(record_->bytes, kVersion);
    append(record_->bytes, static_cast<uint32_t>(payload.size()));
    record_->bytes.insert(record_->bytes.end(), payload.begin(), payload.end());
    n_messages_++;
}

Status StateWriter::add_fd(int fd) {
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) {
        return Error{errno, "cannot duplicate an fd of the connection"};
    }
    record_->fds.emplace_back(copy);
    return Status::Ok();
}

void StateWriter::u64(Request request, uint64_t value) {
    message(request, {reinterpret_cast<const uint8_t*>(&value), sizeof value}, 0);
}

void StateWriter::vring_state(Request request, uint32_t index, uint32_t num) {
    uint32_t payload[2] = {index, num};
    message(request, {reinterpret_cast<const uint8_t*>(payload), sizeof payload}, 0);
}

void StateWriter::vring_addr(uint32_t index, const VringAddresses& a) {
    // vhost-user.rst, "Vring address description".
    std::vector<uint8_t> p;
    append(p, index);
    append(p, a.flags);
    append(p, a.desc_user_addr);
    append(p, a.used_user_addr);
    append(p, a.avail_user_addr);
    append(p, a.log_guest_addr);
    message(Request::kSetVringAddr, p, 0);
}

Status StateWriter::vring_fd(Request request, uint32_t index, int fd) {
    // vhost-user.rst, VHOST_USER_SET_VRING_KICK: bits 0-7 the index, bit 8
    // "no fd".
    uint64_t value = index;
    if (fd < 0) {
        value |= kVringNoFdFlag;
    } else if (Status added = add_fd(fd); !added) {
        return added;
    }
    message(request, {reinterpret_cast<const uint8_t*>(&value), sizeof value}, fd < 0 ? 0 : 1);
    return Status::Ok();
}

Status StateWriter::mem_table(const GuestMemory& memory) {
    // vhost-user.rst, "Memory regions description".
    std::vector<uint8_t> p;
    const uint32_t count = static_cast<uint32_t>(memory.region_count());
    append(p, count);
    append(p, uint32_t{0});
    for (uint32_t i = 0; i < count; i++) {
        const MemoryRegionSpec& s = memory.region(i).spec();
        append(p, s.guest_phys_addr);
        append(p, s.memory_size);
        append(p, s.userspace_addr);
        append(p, s.mmap_offset);
        if (Status added = add_fd(memory.region(i).fd()); !added) {
            return added;
        }
    }
    message(Request::kSetMemTable, p, count);
    return Status::Ok();
}

void StateWriter::finish() {
    std::memcpy(record_->bytes.data() + offsetof(StateHeader, n_messages), &n_messages_,
                sizeof n_messages_);
}

// ---- StateReader ----------------------------------------------------------

Result<StateReader> StateReader::open(StateRecord* record) {
    if (record->bytes.size() < sizeof(StateHeader) || record->fds.empty()) {
        return Error{EINVAL, "saved state too short"};
    }
    StateReader reader(record);
    std::memcpy(&reader.header_, record->bytes.data(), sizeof reader.header_);
    if (std::memcmp(reader.header_.magic, kMagic, sizeof kMagic) != 0) {
        return Error{EINVAL, "saved state is not a connection's state"};
    }
    // NETDEV_VHOST_STATE_VERSION makes this build read another version
    // than its own: tests use it to stand in for an incompatible upgrade.
    uint32_t readable = kStateVersion;
    if (const char* v = std::getenv("NETDEV_VHOST_STATE_VERSION"); v && *v) {
        readable = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
    }
    if (reader.header_.version != readable) {
        return Error{EPROTONOSUPPORT, "saved state of another version"};
    }
    return reader;
}

Status StateReader::next(Header* header, std::span<const uint8_t>* payload,
                         std::span<UniqueFd>* fds, bool* more) {
    std::span<const uint8_t> bytes(record_->bytes);
    if (read_ == header_.n_messages) {
        *more = false;
        return Status::Ok();
    }
    constexpr size_t kPrefix = 4 + kHeaderSize;
    if (bytes.size() - offset_ < kPrefix) {
        return Error{EINVAL, "saved state cut short"};
    }
    const uint32_t n_fds = read_at<uint32_t>(bytes, offset_);
    header->request = read_at<uint32_t>(bytes, offset_ + 4);
    header->flags = read_at<uint32_t>(bytes, offset_ + 8);
    header->size = read_at<uint32_t>(bytes, offset_ + 12);
    offset_ += kPrefix;
    if (header->size > kMaxPayloadSize || bytes.size() - offset_ < header->size ||
        n_fds > kMaxFds || record_->fds.size() - next_fd_ < n_fds) {
        return Error{EINVAL, "saved state cut short"};
    }
    *payload = bytes.subspan(offset_, header->size);
    offset_ += header->size;
    *fds = std::span<UniqueFd>(record_->fds).subspan(next_fd_, n_fds);
    next_fd_ += n_fds;
    read_++;
    *more = true;
    return Status::Ok();
}

}  // namespace nvh::vhost_user
