#pragma once

// Hash lookup for rd::Index's ordered maps: an open-addressing table of pointers to elements held
// elsewhere (std::map nodes, which never move), found by a key derived from the element. The maps
// keep their order for prefix searches and ordered iteration; exact searches at 100,000 entries
// then cost a hash and one or two probes instead of ~17 node visits, each a likely cache miss.
// Not thread-safe; owned by one Index.

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace coapgw::rd::detail {

/// A multiset of `T*` keyed by `Traits::KeyOf(const T&)` (cheap to copy, compared with ==) and
/// hashed by `Traits::Hash(key)`. Linear probing with backward-shift deletion: 8 bytes per slot,
/// at most 70 % of the slots used. Elements with equal keys may coexist (ForEach visits them all).
template <class T, class Traits>
class PointerTable {
 public:
  using Key = decltype(Traits::KeyOf(std::declval<const T&>()));

  /// An element whose key equals `key`, or nullptr.
  T* Find(const Key& key) const {
    if (slots_.empty()) {
      return nullptr;
    }
    for (size_t i = Home(key);; i = Next(i)) {
      T* item = slots_[i];
      if (item == nullptr) {
        return nullptr;
      }
      if (Traits::KeyOf(*item) == key) {
        return item;
      }
    }
  }

  /// Calls visit(T&) for each element whose key equals `key` until it returns false; false then.
  template <class Visit>
  bool ForEach(const Key& key, Visit&& visit) const {
    if (slots_.empty()) {
      return true;
    }
    for (size_t i = Home(key); slots_[i] != nullptr; i = Next(i)) {
      if (Traits::KeyOf(*slots_[i]) == key && !visit(*slots_[i])) {
        return false;
      }
    }
    return true;
  }

  /// Adds `item` (not already in the table).
  void Insert(T* item) {
    if ((size_ + 1) * 10 > slots_.size() * 7) {
      Grow();
    }
    Place(item);
    ++size_;
  }

  /// Removes `item` (the pointer, not merely an equal key); false if it was not in the table.
  bool Erase(const T* item) {
    if (slots_.empty()) {
      return false;
    }
    size_t i = Home(Traits::KeyOf(*item));
    while (slots_[i] != item) {
      if (slots_[i] == nullptr) {
        return false;
      }
      i = Next(i);
    }
    // Backward shift: move later elements of the run into the hole when their home allows it.
    for (size_t j = Next(i);; j = Next(j)) {
      T* moved = slots_[j];
      if (moved == nullptr) {
        break;
      }
      const size_t home = Home(Traits::KeyOf(*moved));
      // `moved` may fill the hole at i unless its home lies cyclically in (i, j].
      const bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
      if (!stays) {
        slots_[i] = moved;
        i = j;
      }
    }
    slots_[i] = nullptr;
    --size_;
    return true;
  }

  size_t size() const { return size_; }
  /// Bytes held on the heap (for memory accounting).
  size_t HeapBytes() const { return slots_.capacity() * sizeof(T*); }

 private:
  size_t Home(const Key& key) const {
    // Fibonacci hashing: the top bits of the product, so sequential keys spread too.
    return static_cast<size_t>((static_cast<uint64_t>(Traits::Hash(key)) * 0x9E3779B97F4A7C15ULL) >>
                               (64 - bits_));
  }
  size_t Next(size_t i) const { return (i + 1) & (slots_.size() - 1); }

  void Place(T* item) {
    size_t i = Home(Traits::KeyOf(*item));
    while (slots_[i] != nullptr) {
      i = Next(i);
    }
    slots_[i] = item;
  }

  void Grow() {
    std::vector<T*> old;
    old.swap(slots_);
    bits_ = old.empty() ? 3 : bits_ + 1;
    slots_.assign(size_t{1} << bits_, nullptr);
    for (T* item : old) {
      if (item != nullptr) {
        Place(item);
      }
    }
  }

  std::vector<T*> slots_;  // size 0 or a power of two
  size_t size_ = 0;
  unsigned bits_ = 0;  // log2(slots_.size())
};

}  // namespace coapgw::rd::detail
