#pragma once
// The one way a statistics counter is written: by its own shard only, without a locked
// instruction. No Asio here, so the histograms (pool/histogram.hpp) and their unit tests use
// it too.

#include <atomic>

namespace sluice {

/// Adds n to a counter that only the calling thread writes: a relaxed load and store, no
/// locked instruction. Readers on other threads sum such counters over shards.
template <class T>
inline void bump(std::atomic<T>& counter, T n) {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

}  // namespace sluice
