#pragma once
// The answers of server host name lookups, kept for dns_max_ttl seconds (a failure for
// dns_nxdomain_ttl), as pgbouncer's DNS cache. One per process (owned by the pool registry),
// shared by every shard: looked up and filled only when a server connection is opened,
// never on the relay path, under a mutex held only to copy an entry.

#include <boost/asio/ip/tcp.hpp>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "shard/io.hpp"

namespace sluice {

class dns_cache {
 public:
  struct answer {
    error_code error;  ///< the lookup failed with this (then no endpoints)
    std::vector<asio::ip::tcp::endpoint> endpoints;
  };
  /// The answer for host:port stored less than its TTL before now, if any.
  std::optional<answer> find(const std::string& host, int port, clock::time_point now);
  /// Keeps an answer until now + ttl seconds (ttl <= 0: not kept).
  void store(const std::string& host, int port, answer a, double ttl, clock::time_point now);
  /// Drops the answer for host:port (RECONNECT: the next server looks the name up again).
  void forget(const std::string& host, int port);

 private:
  struct entry {
    answer value;
    clock::time_point expires;
  };
  std::mutex mu_;
  std::unordered_map<std::string, entry> entries_;  ///< by "host:port"
};

}  // namespace sluice
