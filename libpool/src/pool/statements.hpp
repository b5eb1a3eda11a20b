#pragma once
// Protocol-level prepared statements in transaction and statement mode.
//
// A client names its statements; a server connection serves many clients in turn. So each
// client keeps its names (client_statements: name -> the statement), and each server
// connection keeps the statements it has prepared under names of sluice's own
// (server_statements, an LRU bounded by max_prepared_statements). When a client's Bind or
// Describe names a statement its server lacks, the Parse goes first; a client's Parse of a
// statement the server has already prepared (for any client) costs the server nothing.
//
// The server answers in order, so what sluice added or changed in the stream is undone in
// order too: reply_queue has one slot per Parse and Close sent and per Sync (or Query,
// FunctionCall), saying what the matching ParseComplete or CloseComplete is to the client
// (its own, one to drop, or the ParseComplete of a Parse sluice did not send) and what to undo
// if the server skipped or refused it. The queue stays with the server connection, so an idle
// client carries none of this.
//
// Sans-io and Asio-free: the server connection holds a server_statements and a reply_queue,
// the pool its known_statements, a client session its client_statements; session/prepared.cpp
// is the relay's side that drives them.

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "pgwire/framer.hpp"

namespace sluice {

/// A statement as servers run it: the Parse body after the name (query text and parameter
/// types). Immutable; shared by the client that named it and the servers that have it.
struct statement_def {
  explicit statement_def(pgwire::bytes_view t);
  std::string tail;
  std::size_t hash;
  pgwire::bytes_view bytes() const {
    return {reinterpret_cast<const std::uint8_t*>(tail.data()), tail.size()};
  }
  bool same_as(const statement_def& o) const {
    return this == &o || (hash == o.hash && tail == o.tail);
  }
};
using statement_ptr = std::shared_ptr<const statement_def>;

/// A client's named statements.
class client_statements {
 public:
  const statement_ptr* find(std::string_view name) const;
  void add(std::string_view name, statement_ptr def);
  /// Forgets `name`; with `only` given, only while it still names that statement.
  void erase(std::string_view name, const statement_def* only = nullptr);
  /// The server refused or skipped the Parse of `name` (while it still names `only`): the
  /// name stays, so a Bind prepares it again (as pgbouncer), but a new Parse of it is taken
  /// in its place rather than refused as a duplicate (as PostgreSQL, which has no such
  /// statement).
  void mark_failed(std::string_view name, const statement_def* only);
  bool failed(std::string_view name) const { return failed_.contains(std::string(name)); }
  void clear() {
    by_name_.clear();
    failed_.clear();
  }
  std::size_t size() const { return by_name_.size(); }
  /// Set when a message must end the session, as pgbouncer ends it: a Parse of a name the
  /// client has (42P05), a Bind or Describe of a name it has not (08P01).
  struct refusal {
    std::string sqlstate, message;
  } refused;

 private:
  std::unordered_map<std::string, statement_ptr> by_name_;
  std::unordered_set<std::string> failed_;
};

/// The statements one server connection has prepared, least recently used last.
class server_statements {
 public:
  /// The server's name number for `d` (0 if it lacks it); a hit makes it the most recent.
  std::uint64_t find(const statement_def& d);
  /// Records `d` under a new name number and returns it. If that makes more than `max`, the
  /// least recently used are dropped: their numbers are appended to `evicted` (they must be
  /// closed on the server before anything else is sent).
  std::uint64_t add(statement_ptr d, std::size_t max, std::vector<std::uint64_t>& evicted);
  void erase(std::uint64_t id);
  /// Forgets `d` if it is there.
  void forget(const statement_def& d);
  /// The server dropped them all (DISCARD ALL, DEALLOCATE ALL).
  void clear();
  std::size_t size() const { return lru_.size(); }

 private:
  struct entry {
    statement_ptr def;
    std::uint64_t id;
  };
  std::list<entry> lru_;  // most recent first
  std::unordered_multimap<std::size_t, std::list<entry>::iterator> by_hash_;
  std::uint64_t next_id_ = 1;
};

/// Removes the 5-byte messages (ParseComplete, CloseComplete) at `cuts` (ascending offsets)
/// from buf[0, len): the answers to messages sluice added. Returns the new length.
std::size_t drop_answers(std::uint8_t* buf, std::size_t len, const std::vector<std::size_t>& cuts);

/// A CommandComplete body saying the server dropped every prepared statement of its session
/// (DISCARD ALL, DEALLOCATE ALL), sluice's included.
bool drops_all_statements(pgwire::bytes_view command_complete);

/// The name a server knows statement number `id` by: "sluice_<id>", in `buf`.
std::string_view server_statement_name(std::uint64_t id, char (&buf)[32]);
/// A name no statement has (statement numbers start at 1): a Close of it is a no-op that the
/// server still answers with CloseComplete, at the place the client expects an answer.
inline constexpr std::string_view no_statement_name = "sluice_0";

/// One answer the server owes, in the order the server gives them.
struct reply_slot {
  enum class kind : std::uint8_t { parse, close, ready };
  /// What the matching ParseComplete or CloseComplete is to the client.
  enum class action : std::uint8_t {
    forward,            ///< the answer to the client's own message
    drop,               ///< the answer to a message sluice added
    as_parse_complete,  ///< a CloseComplete that stands for the ParseComplete of a Parse the
                        ///< server did not need (it had the statement)
  };
  kind k = kind::ready;
  action act = action::forward;
  std::uint32_t count = 1;       ///< ready: this many ReadyForQuery in a row
  std::uint64_t server_id = 0;   ///< parse: the server statement to forget if it fails
  statement_ptr def;             ///< parse: the statement (a named one)
  std::string client_name;       ///< parse: the client's name for it, if the client sent it
};

/// The answers owed, as a ring that keeps its storage between links.
class reply_queue {
 public:
  bool empty() const { return head_ == slots_.size(); }
  reply_slot& front() { return slots_[head_]; }
  reply_slot& back() { return slots_.back(); }
  void push(reply_slot s);
  void push_ready();
  void pop();
  void clear();

  /// An ErrorResponse came and its ReadyForQuery has not: the server skips whatever the
  /// client sent up to its next Sync, including messages queued after the error arrived.
  bool skipping = false;

 private:
  std::vector<reply_slot> slots_;
  std::size_t head_ = 0;
};

}  // namespace sluice
