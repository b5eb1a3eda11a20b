#pragma once
// LISTEN and UNLISTEN statements in a client's SQL text (a simple Query, or a Parse), for
// transaction pooling's own subscriptions. Sans-io.

#include <string>
#include <string_view>
#include <vector>

namespace sluice {

struct listen_op {
  enum kind_t { listen, unlisten, unlisten_all } kind = listen;
  std::string channel;  ///< as PostgreSQL names it: folded to lower case unless quoted
  bool operator==(const listen_op&) const = default;
};

/// The LISTEN / UNLISTEN statements of `sql`, in order (other statements are skipped;
/// comments, quoted strings and dollar quotes are stepped over). Empty, cheaply, when the
/// text does not contain "listen" at all.
std::vector<listen_op> listen_ops(std::string_view sql);

/// True if `s` contains "listen" in any case (the cheap test before listen_ops).
bool contains_listen(std::string_view s);

/// `ch` as an SQL identifier (double-quoted, quotes doubled), for LISTEN "ch".
std::string quote_channel(std::string_view ch);

}  // namespace sluice
