#include "connstring.hpp"

// Connection strings ([databases], [users], [peers]): libpq-style `key=value` pairs separated
// by blanks; a value may be single-quoted, with '' or \' for a quote and \x for x inside. Keys
// are case-insensitive.

#include <fmt/format.h>

#include <optional>
#include <string_view>
#include <utility>

#include "sluice/config.hpp"
#include "values.hpp"

namespace sluice {

using namespace config_detail;

std::vector<conn_pair> config_detail::split_connstring(std::string_view s, const std::string& what,
                                                       const std::string& file, int line) {
  std::vector<conn_pair> out;
  std::size_t i = 0;
  auto skip_blanks = [&] {
    while (i < s.size() && is_blank(s[i])) ++i;
  };
  auto fail = [&](const std::string& msg) -> void {
    throw config_error(file, line, fmt::format("{}: {}", what, msg));
  };
  while (true) {
    skip_blanks();
    if (i >= s.size()) break;
    std::size_t kstart = i;
    while (i < s.size() && s[i] != '=' && !is_blank(s[i])) ++i;
    std::string key = lower(s.substr(kstart, i - kstart));
    skip_blanks();
    if (i >= s.size() || s[i] != '=')
      fail(fmt::format("syntax error in connection string: expected '=' after \"{}\"", key));
    if (key.empty()) fail("syntax error in connection string: '=' without a parameter name");
    ++i;  // '='
    skip_blanks();
    std::string value;
    if (i < s.size() && s[i] == '\'') {
      ++i;
      bool closed = false;
      while (i < s.size()) {
        char c = s[i];
        if (c == '\\') {
          if (i + 1 >= s.size()) break;
          value += s[i + 1];
          i += 2;
        } else if (c == '\'') {
          if (i + 1 < s.size() && s[i + 1] == '\'') {
            value += '\'';
            i += 2;
          } else {
            ++i;
            closed = true;
            break;
          }
        } else {
          value += c;
          ++i;
        }
      }
      if (!closed) fail(fmt::format("unterminated quoted value for \"{}\"", key));
      if (i < s.size() && !is_blank(s[i]))
        fail(
            fmt::format("syntax error in connection string after the quoted value of \"{}\"", key));
    } else {
      std::size_t vstart = i;
      while (i < s.size() && !is_blank(s[i])) ++i;
      value = std::string(s.substr(vstart, i - vstart));
      if (value.empty())
        fail(fmt::format("missing value for \"{}\" (use '' for an empty value)", key));
    }
    out.push_back({std::move(key), std::move(value)});
  }
  return out;
}

namespace {

std::string quote_name(const std::string& name) {
  return fmt::format("\"{}\"", name);
}

/// Splits a host= or port= value at every comma, as libpq does: no trimming, and empty
/// elements kept ("a,,b" is three elements, "" is one).
std::vector<std::string_view> split_commas(std::string_view s) {
  std::vector<std::string_view> out;
  while (true) {
    const auto comma = s.find(',');
    out.push_back(s.substr(0, comma));
    if (comma == std::string_view::npos) return out;
    s.remove_prefix(comma + 1);
  }
}

/// Pairs host= with port= by libpq's rules (connectOptions2): one port for every host, or
/// exactly one per host; an empty port element is the default port. `port_text` is null when
/// the entry has no port=.
std::vector<host_port> pair_hosts(const std::string& host_text, const std::string* port_text,
                                  const std::string& what, const std::string& file, int line) {
  std::vector<host_port> hosts;
  for (std::string_view h : split_commas(host_text)) hosts.push_back({std::string(h), 5432});
  if (!port_text) return hosts;
  std::vector<int> ports;
  for (std::string_view p : split_commas(*port_text)) {
    if (p.empty()) {
      ports.push_back(5432);
      continue;
    }
    // The element is named in the message, the whole value would hide which one is wrong.
    const value_ctx v{"port", p, file, line};
    ports.push_back(static_cast<int>(parse_int(v, 1, 65535)));
  }
  if (ports.size() != 1 && ports.size() != hosts.size())
    throw config_error(file, line,
                       fmt::format("{}: could not match {} port numbers to {} hosts", what,
                                   ports.size(), hosts.size()));
  for (std::size_t i = 0; i < hosts.size(); ++i)
    hosts[i].port = ports.size() == 1 ? ports[0] : ports[i];
  return hosts;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// [databases]

database_config parse_database_entry(const std::string& name, const std::string& value,
                                     const std::string& file, int line) {
  database_config db;
  db.name = name;
  db.source = where(file, line);
  const std::string what = fmt::format("database {}", quote_name(name));
  if (name.empty()) throw config_error(file, line, "empty database name");

  // host= and port= are paired once both are known: either may come first, and a later one
  // replaces an earlier one, as every other key does.
  std::optional<std::string> port_text;
  for (auto& [k, val] : split_connstring(value, what, file, line)) {
    const value_ctx v{k, val, file, line};
    auto count = [&] { return parse_nonneg_int(v); };
    if (k == "host")
      db.host = val;
    else if (k == "port")
      port_text = val;
    else if (k == "load_balance_hosts")
      db.load_balance_hosts = parse_load_balance(v);
    else if (k == "target_session_attrs")
      db.target_session_attrs = parse_session_attrs(v);
    else if (k == "dbname")
      db.dbname = val;
    else if (k == "user")
      db.user = val;
    else if (k == "password")
      db.password = val;
    else if (k == "auth_user")
      db.auth_user = val;
    else if (k == "auth_query")
      db.auth_query = val;
    else if (k == "auth_dbname")  // "pgbouncer" here is refused at login, as pgbouncer does
      db.auth_dbname = val;
    else if (k == "pool_size")
      db.pool_size = count();
    else if (k == "min_pool_size")
      db.min_pool_size = count();
    else if (k == "reserve_pool" || k == "reserve_pool_size")
      db.reserve_pool_size = count();
    else if (k == "max_db_connections")
      db.max_db_connections = count();
    else if (k == "max_db_client_connections")
      db.max_db_client_connections = count();
    else if (k == "pool_mode")
      db.mode = parse_pool_mode(v);
    else if (k == "connect_query")
      db.connect_query = val;
    else if (k == "client_encoding")
      db.client_encoding = val;
    else if (k == "datestyle")
      db.datestyle = val;
    else if (k == "timezone")
      db.timezone = val;
    else if (k == "application_name")
      db.application_name = val;
    else if (k == "server_lifetime") {
      // 0 is pgbouncer's "not set": the [pgbouncer] value applies.
      const double d = parse_duration(v);
      db.server_lifetime = d > 0 ? std::optional<double>(d) : std::nullopt;
    } else if (k == "query_wait_timeout") {
      const double d = parse_duration(v, true);  // -1 = not set
      db.query_wait_timeout = d >= 0 ? std::optional<double>(d) : std::nullopt;
    } else {
      throw config_error(file, line,
                         fmt::format("{}: unrecognized connection parameter: {}", what, k));
    }
  }
  db.hosts = pair_hosts(db.host, port_text ? &*port_text : nullptr, what, file, line);
  db.port = db.hosts.front().port;
  return db;
}

session_attrs effective_session_attrs(const config& c, const database_config& db) noexcept {
  return db.target_session_attrs.value_or(c.target_session_attrs);
}

const database_config* config::find_database(const std::string& name) const noexcept {
  const database_config* fallback = nullptr;
  for (const auto& db : databases) {
    if (db.name == name) return &db;
    if (db.name == "*") fallback = &db;
  }
  return fallback;
}

// ---------------------------------------------------------------------------------------------
// [users] and [peers]

namespace config_detail {

std::vector<std::string> check_user_entry(const std::string& name, const std::string& value,
                                          const std::string& file, int line, user_config& u) {
  std::vector<std::string> notes;
  u = user_config{};
  u.name = name;
  const std::string what = fmt::format("user {}", quote_name(name));
  for (const auto& [k, val] : split_connstring(value, what, file, line)) {
    const value_ctx v{k, val, file, line};
    if (k == "pool_mode") {
      u.mode = parse_pool_mode(v);
    } else if (k == "pool_size") {
      u.pool_size = parse_nonneg_int(v);
    } else if (k == "reserve_pool_size") {
      u.reserve_pool_size = parse_nonneg_int(v);
    } else if (k == "max_user_connections") {
      u.max_user_connections = parse_nonneg_int(v);
    } else if (k == "max_user_client_connections") {
      u.max_user_client_connections = parse_nonneg_int(v);
    } else if (k == "query_timeout") {
      u.query_timeout = parse_duration(v);
    } else if (k == "idle_transaction_timeout") {
      u.idle_transaction_timeout = parse_duration(v);
    } else if (k == "client_idle_timeout") {
      u.client_idle_timeout = parse_duration(v);
    } else if (k == "transaction_timeout") {
      u.transaction_timeout = parse_duration(v);
    } else if (k == "query_wait_timeout") {
      const double d = parse_duration(v, true);  // -1 = not set
      u.query_wait_timeout = d >= 0 ? std::optional<double>(d) : std::nullopt;
    } else {
      throw config_error(file, line, fmt::format("{}: unknown user parameter: {}", what, k));
    }
  }
  return notes;
}

peer_config check_peer_entry(const std::string& name, const std::string& value,
                             const std::string& file, int line) {
  long long id = 0;
  if (!parse_integer_text(name, id) || id < 1 || id > 65535)
    throw config_error(file, line,
                       fmt::format("peer id \"{}\" must be a number between 1 and 65535", name));
  const std::string what = fmt::format("peer {}", name);
  peer_config p;
  p.id = int(id);
  p.source = where(file, line);
  bool host = false;
  for (const auto& [k, val] : split_connstring(value, what, file, line)) {
    const value_ctx v{k, val, file, line};
    if (k == "host") {
      host = !val.empty();
      p.host = val;
    } else if (k == "port") {
      p.port = parse_int(v, 1, 65535);
    } else if (k == "pool_size") {
      p.pool_size = parse_nonneg_int(v);
    } else {
      throw config_error(file, line, fmt::format("{}: unknown peer parameter: {}", what, k));
    }
  }
  if (!host) throw config_error(file, line, fmt::format("{}: host is required", what));
  if (p.host.front() == '@')
    throw config_error(file, line,
                       fmt::format("{}: abstract Unix sockets (host=@...) are not supported", what));
  return p;
}

}  // namespace config_detail

}  // namespace sluice
