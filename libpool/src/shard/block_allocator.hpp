#pragma once
// Per-thread free lists of fixed-size blocks, for the objects the hot path creates and frees
// on every transaction (waiters, mail) and for the one operation an idle client keeps pending.

#include <cstddef>
#include <new>
#include <vector>

namespace sluice {

/// Free blocks of one size, per thread (see pooled_allocator).
template <std::size_t Size>
struct block_cache {
  static constexpr std::size_t max_blocks = 256;
  std::vector<void*> blocks;
  block_cache() { blocks.reserve(max_blocks); }
  ~block_cache() {
    for (void* p : blocks) ::operator delete(p);
  }
  static block_cache& mine() {
    thread_local block_cache cache;
    return cache;
  }
};

/// Allocates single objects from a per-thread free list of blocks of exactly their size, so
/// that steady-state traffic allocates nothing and a long-lived object holds no more than it
/// needs (Asio's own recycling hands out any larger cached block). A block freed on another
/// thread joins that thread's list. Each list keeps at most block_cache::max_blocks.
template <class T>
struct pooled_allocator {
  using value_type = T;
  pooled_allocator() noexcept = default;
  template <class U>
  pooled_allocator(const pooled_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n == 1) {
      auto& cache = block_cache<sizeof(T)>::mine();
      if (!cache.blocks.empty()) {
        void* p = cache.blocks.back();
        cache.blocks.pop_back();
        return static_cast<T*>(p);
      }
    }
    return static_cast<T*>(::operator new(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n == 1) {
      auto& cache = block_cache<sizeof(T)>::mine();
      if (cache.blocks.size() < block_cache<sizeof(T)>::max_blocks) {
        cache.blocks.push_back(p);  // capacity reserved: cannot throw
        return;
      }
    }
    ::operator delete(p);
  }
  template <class U>
  bool operator==(const pooled_allocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace sluice
