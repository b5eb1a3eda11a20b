// Prepared statements below the pool: the client's names, a server connection's LRU, the
// queue of answers a server owes (statements.hpp).
#include "pool/statements.hpp"

#include <fmt/format.h>

#include <cstring>
#include <functional>

namespace sluice {

statement_def::statement_def(pgwire::bytes_view t)
    : tail(reinterpret_cast<const char*>(t.data()), t.size()),
      hash(std::hash<std::string_view>{}(tail)) {}

const statement_ptr* client_statements::find(std::string_view name) const {
  const auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : &it->second;
}

void client_statements::add(std::string_view name, statement_ptr def) {
  std::string key(name);
  if (!failed_.empty()) failed_.erase(key);
  by_name_.insert_or_assign(std::move(key), std::move(def));
}

void client_statements::erase(std::string_view name, const statement_def* only) {
  const auto it = by_name_.find(std::string(name));
  if (it == by_name_.end() || (only && it->second.get() != only)) return;
  if (!failed_.empty()) failed_.erase(it->first);
  by_name_.erase(it);
}

void client_statements::mark_failed(std::string_view name, const statement_def* only) {
  const auto it = by_name_.find(std::string(name));
  if (it != by_name_.end() && it->second.get() == only) failed_.insert(it->first);
}

std::uint64_t server_statements::find(const statement_def& d) {
  const auto [b, e] = by_hash_.equal_range(d.hash);
  for (auto it = b; it != e; ++it) {
    const auto pos = it->second;
    if (!pos->def->same_as(d)) continue;
    lru_.splice(lru_.begin(), lru_, pos);
    return pos->id;
  }
  return 0;
}

std::uint64_t server_statements::add(statement_ptr d, std::size_t max,
                                     std::vector<std::uint64_t>& evicted) {
  while (!lru_.empty() && lru_.size() >= std::max<std::size_t>(max, 1)) {
    evicted.push_back(lru_.back().id);
    erase(lru_.back().id);
  }
  const std::size_t h = d->hash;
  const std::uint64_t id = next_id_++;
  lru_.push_front(entry{std::move(d), id});
  by_hash_.emplace(h, lru_.begin());
  return id;
}

void server_statements::erase(std::uint64_t id) {
  // Only on eviction and on a failed Parse: a walk over at most max_prepared_statements.
  for (auto pos = lru_.begin(); pos != lru_.end(); ++pos) {
    if (pos->id != id) continue;
    const auto [b, e] = by_hash_.equal_range(pos->def->hash);
    for (auto it = b; it != e; ++it) {
      if (it->second == pos) {
        by_hash_.erase(it);
        break;
      }
    }
    lru_.erase(pos);
    return;
  }
}

void server_statements::forget(const statement_def& d) {
  if (const std::uint64_t id = find(d)) erase(id);
}

void server_statements::clear() {
  by_hash_.clear();
  lru_.clear();
}

std::size_t drop_answers(std::uint8_t* buf, std::size_t len, const std::vector<std::size_t>& cuts) {
  std::size_t to = cuts.front();
  for (std::size_t k = 0; k < cuts.size(); ++k) {
    const std::size_t from = cuts[k] + 5;
    const std::size_t until = k + 1 < cuts.size() ? cuts[k + 1] : len;
    std::memmove(buf + to, buf + from, until - from);
    to += until - from;
  }
  return to;
}

bool drops_all_statements(pgwire::bytes_view command_complete) {
  const std::string_view cmd(reinterpret_cast<const char*>(command_complete.data()),
                             command_complete.size());
  return cmd == std::string_view("DISCARD ALL\0", 12) ||
         cmd == std::string_view("DEALLOCATE ALL\0", 15);
}

std::string_view server_statement_name(std::uint64_t id, char (&buf)[32]) {
  const auto end = fmt::format_to_n(buf, sizeof buf, "sluice_{}", id).out;
  return {buf, static_cast<std::size_t>(end - buf)};
}

void reply_queue::push(reply_slot s) {
  if (head_ > 0 && head_ == slots_.size()) clear();
  slots_.push_back(std::move(s));
}

void reply_queue::push_ready() {
  if (!empty() && slots_.back().k == reply_slot::kind::ready) {
    ++slots_.back().count;
    return;
  }
  push(reply_slot{});
}

void reply_queue::pop() {
  reply_slot& s = slots_[head_];
  if (s.k == reply_slot::kind::ready && s.count > 1) {
    --s.count;
    return;
  }
  s = reply_slot{};  // let go of what it holds now, not when the storage is reused
  if (++head_ == slots_.size()) clear();
}

void reply_queue::clear() {
  slots_.clear();
  head_ = 0;
}

}  // namespace sluice
