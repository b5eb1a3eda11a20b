#pragma once
// Latency histograms kept per pool and per shard: transaction time, query time and the time
// a client waits for a server. Each one is written by its shard's thread only (relaxed
// stores, as the other statistics are) and merged by whoever reads them (the HTTP endpoint's
// /metrics), so recording takes no lock and no read-modify-write.

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "shard/counter.hpp"

namespace sluice {

/// Bucket upper bounds, in microseconds (Prometheus `le`, inclusive): 100 µs to 10 s.
inline constexpr std::array<std::uint64_t, 16> latency_bounds_us = {
    100,    250,    500,     1000,    2500,    5000,    10000,   25000,
    50000,  100000, 250000,  500000,  1000000, 2500000, 5000000, 10000000};

/// Observations by bucket (not cumulative; the last bucket is above every bound) and their sum.
struct histogram_totals {
  std::array<std::uint64_t, latency_bounds_us.size() + 1> buckets{};
  std::uint64_t sum_us = 0;

  std::uint64_t count() const noexcept {
    std::uint64_t n = 0;
    for (auto b : buckets) n += b;
    return n;
  }
  histogram_totals& operator+=(const histogram_totals& o) noexcept {
    for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += o.buckets[i];
    sum_us += o.sum_us;
    return *this;
  }
};

/// One shard's share of a histogram.
class latency_histogram {
 public:
  /// Only from the owning shard's thread.
  void observe(std::uint64_t us) noexcept {
    const auto at = std::lower_bound(latency_bounds_us.begin(), latency_bounds_us.end(), us);
    bump(buckets_[std::size_t(at - latency_bounds_us.begin())], std::uint64_t{1});
    bump(sum_us_, us);
  }
  /// From any thread: what has been recorded so far (each field may lag the others a little).
  void add_to(histogram_totals& t) const noexcept {
    for (std::size_t i = 0; i < buckets_.size(); ++i)
      t.buckets[i] += buckets_[i].load(std::memory_order_relaxed);
    t.sum_us += sum_us_.load(std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<std::uint64_t>, latency_bounds_us.size() + 1> buckets_{};
  std::atomic<std::uint64_t> sum_us_{0};
};

}  // namespace sluice
