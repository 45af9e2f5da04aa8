#include "rd/posting.hpp"

#include <algorithm>

namespace coapgw::rd::detail {

void Posting::Insert(int64_t key) {
  const uint64_t slot = Slot(key);
  if (sorted_ && (slots_.empty() || slots_.back() < slot)) {
    slots_.push_back(slot);  // The usual case: keys grow.
    ++live_;
    return;
  }
  if (sorted_) {
    auto it = std::lower_bound(slots_.begin(), slots_.end(), slot);
    if (it != slots_.end() && KeyOf(*it) == key) {
      if (Dead(*it)) {
        *it = slot;
        --dead_;
        ++live_;
      }
      return;
    }
  }
  // Checked when sorting: Normalize drops duplicates, keeping a live slot over a tombstone.
  slots_.push_back(slot);
  sorted_ = false;
  ++live_;
}

void Posting::Erase(int64_t key) {
  Normalize();
  auto it = std::lower_bound(slots_.begin(), slots_.end(), Slot(key));
  if (it == slots_.end() || KeyOf(*it) != key || Dead(*it)) {
    return;
  }
  *it |= 1;
  ++dead_;
  --live_;
  if (dead_ > live_) {
    Compact();
  }
}

void Posting::AppendTo(std::vector<int64_t>* out) const {
  Normalize();
  for (const uint64_t slot : slots_) {
    if (!Dead(slot)) {
      out->push_back(KeyOf(slot));
    }
  }
}

void Posting::Normalize() const {
  if (sorted_) {
    return;
  }
  std::sort(slots_.begin(), slots_.end());
  // Equal keys are adjacent, live (even) before dead (odd): keep the first of each run.
  auto last = std::unique(slots_.begin(), slots_.end(),
                          [](uint64_t a, uint64_t b) { return KeyOf(a) == KeyOf(b); });
  slots_.erase(last, slots_.end());
  dead_ = static_cast<uint32_t>(std::count_if(slots_.begin(), slots_.end(), Dead));
  live_ = static_cast<uint32_t>(slots_.size()) - dead_;
  sorted_ = true;
  if (dead_ > live_) {
    Compact();
  }
}

void Posting::Compact() const {
  slots_.erase(std::remove_if(slots_.begin(), slots_.end(), Dead), slots_.end());
  dead_ = 0;
  if (slots_.capacity() > 2 * slots_.size() + 4) {
    slots_.shrink_to_fit();
  }
}

}  // namespace coapgw::rd::detail
