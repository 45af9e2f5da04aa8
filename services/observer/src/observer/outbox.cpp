#include "observer/outbox.hpp"

#include <algorithm>
#include <utility>

namespace coapgw::observer {

Outbox::Outbox(size_t capacity, PublishFn publish)
    : capacity_(std::max<size_t>(1, capacity)), publish_(std::move(publish)) {}

void Outbox::Push(uint64_t key, events::ObservedData data) {
  const auto it = waiting_.find(key);
  if (it != waiting_.end()) {
    it->second = std::move(data);
    ++stats_.coalesced;
    return;
  }
  // Nothing waits: try the bus first. Something waits: the bus refused lately, and the older
  // values go first.
  if (waiting_.empty()) {
    if (publish_(data)) {
      ++stats_.published;
      return;
    }
    ++stats_.refused;
  }
  if (waiting_.size() >= capacity_) {
    ++stats_.dropped;
    return;
  }
  waiting_.emplace(key, std::move(data));
  order_.push_back(key);
}

bool Outbox::Flush() {
  while (!order_.empty()) {
    const uint64_t key = order_.front();
    const auto it = waiting_.find(key);
    if (!publish_(it->second)) {
      ++stats_.refused;
      return false;
    }
    ++stats_.published;
    waiting_.erase(it);
    order_.pop_front();
  }
  return true;
}

}  // namespace coapgw::observer
