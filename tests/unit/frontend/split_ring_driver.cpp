// SPDX-License-Identifier: Apache-2.0
// split_ring_driver.cpp: driver side of a split virtqueue, for tests.
#include "frontend/split_ring_driver.h"

#include <algorithm>
#include <cstring>

#include "frontend/failure.h"
#include "frontend/ring_driver_common.h"

namespace nvh::test {
namespace {

using ring_driver::load_acquire;
using ring_driver::store_release;

void fail(const char* what) { report_failure("split_ring_driver", what); }

}  // namespace

SplitRingDriver::SplitRingDriver(GuestMemoryFixture& mem, uint16_t num,
                                 uint32_t buffer_size)
    : mem_(mem), num_(num == 0 ? 1 : num), buffer_size_(buffer_size) {
    if (num == 0 || (num & (num - 1)) != 0) {
        fail("queue size must be a power of two");
    }
    desc_gpa_ = mem_.alloc(virtio::split_desc_bytes(num_), 4096);
    avail_gpa_ = mem_.alloc(virtio::split_avail_bytes(num_), 64);
    used_gpa_ = mem_.alloc(virtio::split_used_bytes(num_), 64);
    pool_ = mem_.alloc(uint64_t{num_} * buffer_size, 4096);
    chain_descs_.resize(num_);
    chain_segs_.resize(num_);
    for (uint64_t gpa : {desc_gpa_, avail_gpa_, used_gpa_, pool_}) {
        if (gpa == GuestMemoryFixture::kNoAddress) {
            // Reported by alloc: the ring lives in scratch memory the
            // device never sees, and no chain can be added.
            scratch_.assign(virtio::split_desc_bytes(num_) + 64, 0);
            return;
        }
    }
    for (int i = num_ - 1; i >= 0; i--) {
        free_.push_back(static_cast<uint16_t>(i));
    }
}

VringAddresses SplitRingDriver::addresses() const {
    return ring_driver::ring_addresses(mem_, desc_gpa_, avail_gpa_, used_gpa_);
}

bool SplitRingDriver::configure(Virtqueue& vq, uint16_t base) const {
    return ring_driver::configure(vq, num_, addresses(), base);
}

std::vector<uint8_t> SplitRingDriver::net_header(uint32_t hdr_len) {
    return std::vector<uint8_t>(hdr_len, 0);
}

uint8_t* SplitRingDriver::host(uint64_t gpa, size_t off) const {
    if (!scratch_.empty()) {
        return const_cast<uint8_t*>(scratch_.data()) + off;
    }
    return mem_.host(gpa) + off;
}
uint8_t* SplitRingDriver::avail_host(size_t off) const { return host(avail_gpa_, off); }
uint8_t* SplitRingDriver::used_host(size_t off) const { return host(used_gpa_, off); }

int SplitRingDriver::alloc_desc() {
    if (free_.empty()) {
        return -1;
    }
    uint16_t d = free_.back();
    free_.pop_back();
    return d;
}

void SplitRingDriver::write_desc(uint16_t index, const virtio::SplitDesc& desc) {
    if (index >= num_) {
        fail("write_desc: index past the table");
        return;
    }
    std::memcpy(host(desc_gpa_, 16 * size_t(index)), &desc, sizeof desc);
}

void SplitRingDriver::make_available(uint16_t head) {
    uint8_t* slot = avail_host(4 + 2 * size_t(avail_idx_ & (num_ - 1)));
    std::memcpy(slot, &head, 2);
    avail_idx_++;
    // virtio 1.2, 2.7.13.2: the ring entry is visible before idx.
    store_release<uint16_t>(avail_host(2), avail_idx_);
}

void SplitRingDriver::set_avail_idx(uint16_t idx) {
    avail_idx_ = idx;
    store_release<uint16_t>(avail_host(2), idx);
}

void SplitRingDriver::set_avail_flags(uint16_t flags) {
    store_release<uint16_t>(avail_host(0), flags);
}

void SplitRingDriver::set_used_event(uint16_t idx) {
    store_release<uint16_t>(avail_host(4 + 2 * size_t(num_)), idx);
}

uint16_t SplitRingDriver::used_flags() const { return load_acquire<uint16_t>(used_host(0)); }
void SplitRingDriver::rebase(uint16_t base) {
    avail_idx_ = base;
    last_used_ = base;
    store_release<uint16_t>(avail_host(2), base);
    store_release<uint16_t>(used_host(2), base);
}

uint16_t SplitRingDriver::avail_event() const {
    return load_acquire<uint16_t>(used_host(4 + 8 * size_t(num_)));
}
uint16_t SplitRingDriver::used_idx() const { return load_acquire<uint16_t>(used_host(2)); }

// Takes segments.size() descriptors, writes them chained with NEXT and makes
// the head available.
int SplitRingDriver::link_chain(std::span<const Segment> segments,
                                std::vector<uint16_t>* descs) {
    if (segments.empty()) {
        return -1;
    }
    if (descs->empty()) {
        if (free_.size() < segments.size()) {
            return -1;
        }
        for (size_t i = 0; i < segments.size(); i++) {
            descs->push_back(static_cast<uint16_t>(alloc_desc()));
        }
    }
    for (size_t i = 0; i < segments.size(); i++) {
        bool last = i + 1 == segments.size();
        virtio::SplitDesc d{};
        d.addr = segments[i].gpa;
        d.len = segments[i].len;
        d.flags = static_cast<uint16_t>((last ? 0 : virtio::kDescFNext) |
                                        (segments[i].writable ? virtio::kDescFWrite : 0));
        d.next = last ? 0 : (*descs)[i + 1];
        write_desc((*descs)[i], d);
    }
    uint16_t head = (*descs)[0];
    chain_descs_[head] = *descs;
    chain_segs_[head].assign(segments.begin(), segments.end());
    make_available(head);
    return head;
}

int SplitRingDriver::add_chain(std::span<const Segment> segments) {
    std::vector<uint16_t> descs;
    return link_chain(segments, &descs);
}

int SplitRingDriver::add_tx(std::span<const uint8_t> header,
                            std::span<const uint8_t> frame,
                            std::span<const uint32_t> split) {
    std::vector<uint8_t> bytes = ring_driver::join(header, frame);
    std::vector<uint32_t> sizes = ring_driver::piece_sizes(bytes.size(), split);
    if (free_.size() < sizes.size()) {
        return -1;
    }
    if (!fits_pool(sizes, "add_tx: piece larger than buffer_size")) {
        return -1;
    }
    std::vector<uint16_t> descs;
    std::vector<Segment> segs;
    size_t off = 0;
    for (uint32_t s : sizes) {
        uint16_t d = static_cast<uint16_t>(alloc_desc());
        descs.push_back(d);
        segs.push_back({pool_buffer(d), s, false});
        mem_.write(pool_buffer(d), std::span<const uint8_t>(bytes).subspan(off, s));
        off += s;
    }
    return link_chain(segs, &descs);
}

bool SplitRingDriver::fits_pool(std::span<const uint32_t> sizes, const char* what) const {
    return ring_driver::fit_pool(sizes, buffer_size_, "split_ring_driver", what);
}

int SplitRingDriver::add_rx(std::span<const uint32_t> sizes) {
    if (sizes.empty() || free_.size() < sizes.size()) {
        return -1;
    }
    if (!fits_pool(sizes, "add_rx: buffer larger than buffer_size")) {
        return -1;
    }
    std::vector<uint16_t> descs;
    std::vector<Segment> segs;
    for (uint32_t s : sizes) {
        uint16_t d = static_cast<uint16_t>(alloc_desc());
        descs.push_back(d);
        segs.push_back({pool_buffer(d), s, true});
    }
    return link_chain(segs, &descs);
}

int SplitRingDriver::add_indirect(std::span<const Segment> segments) {
    int head = alloc_desc();
    if (head < 0 || segments.empty()) {
        return -1;
    }
    uint64_t table = mem_.alloc(16 * segments.size(), 16);
    if (table == GuestMemoryFixture::kNoAddress) {
        free_.push_back(static_cast<uint16_t>(head));
        return -1;
    }
    for (size_t i = 0; i < segments.size(); i++) {
        bool last = i + 1 == segments.size();
        virtio::SplitDesc d{};
        d.addr = segments[i].gpa;
        d.len = segments[i].len;
        d.flags = static_cast<uint16_t>((last ? 0 : virtio::kDescFNext) |
                                        (segments[i].writable ? virtio::kDescFWrite : 0));
        d.next = last ? 0 : static_cast<uint16_t>(i + 1);
        mem_.write(table + 16 * i,
                   std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&d), 16));
    }
    write_desc(static_cast<uint16_t>(head),
               {table, static_cast<uint32_t>(16 * segments.size()),
                virtio::kDescFIndirect, 0});
    chain_descs_[head] = {static_cast<uint16_t>(head)};
    chain_segs_[head].assign(segments.begin(), segments.end());
    make_available(static_cast<uint16_t>(head));
    return head;
}

std::optional<SplitRingDriver::Used> SplitRingDriver::pop_used() {
    if (used_idx() == last_used_) {
        return std::nullopt;
    }
    Used u;
    const uint8_t* elem = used_host(4 + 8 * size_t(last_used_ & (num_ - 1)));
    std::memcpy(&u.id, elem, 4);
    std::memcpy(&u.len, elem + 4, 4);
    last_used_++;
    if (u.id < num_) {
        u.segments = chain_segs_[u.id];
        for (uint16_t d : chain_descs_[u.id]) {
            free_.push_back(d);
        }
        chain_descs_[u.id].clear();
        chain_segs_[u.id].clear();
    }
    return u;
}

std::vector<uint8_t> SplitRingDriver::read_used(const Used& used) const {
    return ring_driver::read_written(mem_, std::span<const Segment>(used.segments), used.len);
}

}  // namespace nvh::test
