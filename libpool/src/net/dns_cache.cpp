#include "net/dns_cache.hpp"

#include <fmt/format.h>

#include <utility>

namespace sluice {

namespace {
std::string key_of(const std::string& host, int port) {
  return fmt::format("{}:{}", host, port);
}
}  // namespace

std::optional<dns_cache::answer> dns_cache::find(const std::string& host, int port,
                                                 clock::time_point now) {
  const std::string key = key_of(host, port);
  std::lock_guard lk(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  if (now >= it->second.expires) {
    entries_.erase(it);
    return std::nullopt;
  }
  return it->second.value;
}

void dns_cache::store(const std::string& host, int port, answer a, double ttl,
                      clock::time_point now) {
  if (!(ttl > 0)) return;
  const auto expires =
      now + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(ttl));
  std::string key = key_of(host, port);
  std::lock_guard lk(mu_);
  entries_.insert_or_assign(std::move(key), entry{std::move(a), expires});
}

void dns_cache::forget(const std::string& host, int port) {
  const std::string key = key_of(host, port);
  std::lock_guard lk(mu_);
  entries_.erase(key);
}

}  // namespace sluice
