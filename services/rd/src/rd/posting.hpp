#pragma once

// Posting list of rd::Index: the registration keys holding one (attribute, value), kept sorted so
// lookups emit results in key order without sorting. Not thread-safe; owned by one Index.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace coapgw::rd::detail {

/// A set of keys in 0..2^62-1. Erase marks a tombstone and compacts once tombstones outnumber
/// live keys, so mass expiry costs amortized O(log n) per key instead of a memmove per key.
/// Inserting below the largest key appends and defers sorting to the next read (a database load
/// in any order stays O(n log n)), which is why the read functions are const but may reorder.
class Posting {
 public:
  /// Adds `key`; a no-op if present.
  void Insert(int64_t key);
  /// Removes `key`; a no-op if absent.
  void Erase(int64_t key);
  /// Number of keys.
  size_t size() const {
    Normalize();
    return live_;
  }
  bool empty() const { return size() == 0; }
  /// Appends the keys in ascending order.
  void AppendTo(std::vector<int64_t>* out) const;
  /// Bytes held on the heap (for memory accounting).
  size_t HeapBytes() const { return slots_.capacity() * sizeof(uint64_t); }

 private:
  // A slot is key << 1 | dead: the order of slots is the order of keys.
  static uint64_t Slot(int64_t key) { return static_cast<uint64_t>(key) << 1; }
  static int64_t KeyOf(uint64_t slot) { return static_cast<int64_t>(slot >> 1); }
  static bool Dead(uint64_t slot) { return (slot & 1) != 0; }

  void Normalize() const;
  void Compact() const;

  mutable std::vector<uint64_t> slots_;
  mutable uint32_t dead_ = 0;
  mutable uint32_t live_ = 0;  // exact while sorted_; Normalize recounts
  mutable bool sorted_ = true;
};

}  // namespace coapgw::rd::detail
