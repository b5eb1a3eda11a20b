#include "sluice/config.hpp"

/// @file config.cpp
/// pgbouncer.ini and userlist.txt parsing.
///
/// Syntax follows PgBouncer (libusual's ini parser):
///  - `[section]` lines; `key = value` lines; lines whose first non-blank character is ';' or
///    '#' are comments (a ';' or '#' later in a line is part of the value). Values are trimmed
///    and may be empty. A key may be quoted ("..." or '...', doubled quote = literal quote),
///    which [databases] names need when they contain characters outside [A-Za-z0-9_.*-].
///  - `%include path`: the included file is read in place and shares the current section.
///    A relative path is first tried as given (relative to the working directory, like
///    PgBouncer), then relative to the directory of the including file. Nesting is limited
///    to 10 levels (this also stops include cycles).
///  - Section names and the keys of [pgbouncer], [sluice] and of connection strings are
///    case-insensitive; database, user and peer names are not.
///  - Integers are read like PgBouncer's strtol(..., 0): "0x1f" is hex and "017" is octal.
///    unix_socket_mode is always octal ("777" and "0777" are the same mode).
///  - Booleans: 0/1/yes/no/on/off/true/false (any non-negative integer: non-zero = true, as
///    PgBouncer stores booleans as integers).
///  - Durations: a non-negative number of seconds (fractions allowed, "0.5"), optionally with
///    a unit: us, ms, s, min, h, d ("100ms", "5min", "1.5 h").
///  - Limits sluice adds: pkt_buf >= 512; 1024 <= max_packet_size <= 2147483647 (the largest
///    length the protocol can express); ports 1..65535; sizes, counts and timeouts >= 0;
///    [sluice] workers 0..4096.
///  - Connection strings ([databases], [users], [peers]): `key=value` pairs separated by
///    blanks; a value may be single-quoted, with '' or \' for a quote and \x for x inside.
///  - After parsing: the file must have a [pgbouncer] section, and auth_type plain, md5 (the
///    default) or scram-sha-256 needs auth_file (reported at line 0 when it is not set at all).
///
/// Keys PgBouncer documents but sluice does not act on yet are accepted (their value is
/// validated when that is trivial) and listed in config::unsupported with where they were set;
/// a key PgBouncer does not know is an error.

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <string_view>
#include <utility>

namespace sluice {

// ---------------------------------------------------------------------------------------------
// small public pieces

config_error::config_error(std::string file, int line, const std::string& message)
    : std::runtime_error(fmt::format("{}:{}: {}", file, line, message)),
      file_(std::move(file)),
      line_(line) {}

const char* to_string(pool_mode m) noexcept {
  switch (m) {
    case pool_mode::session:
      return "session";
    case pool_mode::transaction:
      return "transaction";
    case pool_mode::statement:
      return "statement";
  }
  return "?";
}

const char* to_string(auth_type a) noexcept {
  switch (a) {
    case auth_type::trust:
      return "trust";
    case auth_type::any:
      return "any";
    case auth_type::plain:
      return "plain";
    case auth_type::md5:
      return "md5";
    case auth_type::scram_sha_256:
      return "scram-sha-256";
    case auth_type::cert:
      return "cert";
    case auth_type::hba:
      return "hba";
    case auth_type::pam:
      return "pam";
  }
  return "?";
}

const database_config* config::find_database(const std::string& name) const noexcept {
  const database_config* fallback = nullptr;
  for (const auto& db : databases) {
    if (db.name == name) return &db;
    if (db.name == "*") fallback = &db;
  }
  return fallback;
}

const std::string* userlist::find(const std::string& user) const noexcept {
  auto it = passwords.find(user);
  return it == passwords.end() ? nullptr : &it->second;
}

namespace {

// ---------------------------------------------------------------------------------------------
// string helpers

bool is_blank(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (is_blank(s.front()) || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (is_blank(s.back()) || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r) c = ascii_lower(c);
  return r;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

std::string where(const std::string& file, int line) {
  return fmt::format("{}:{}", file, line);
}

/// Reads a whole file; returns 0 or the errno of the failure.
int read_whole_file(const std::string& path, std::string& out) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return errno;
  out.clear();
  std::array<char, 8192> buf{};
  for (;;) {
    std::size_t n = std::fread(buf.data(), 1, buf.size(), f);
    out.append(buf.data(), n);
    if (n < buf.size()) break;
  }
  int err = std::ferror(f) ? (errno ? errno : EIO) : 0;
  std::fclose(f);
  return err;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// value parsers; every one throws config_error(file, line, ...) naming the key and the value

struct value_ctx {
  std::string_view key;
  std::string_view value;
  const std::string& file;
  int line;

  [[noreturn]] void fail(std::string_view expected) const {
    throw config_error(file, line,
                       fmt::format("invalid value \"{}\" for {}: {}", value, key, expected));
  }
};

/// strtol(..., 0)-like: optional sign, "0x" hex, leading-0 octal, else decimal. Whole string.
bool parse_integer_text(std::string_view s, long long& out) {
  s = trim(s);
  bool neg = false;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    neg = s.front() == '-';
    s.remove_prefix(1);
  }
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  } else if (s.size() > 1 && s[0] == '0') {
    base = 8;
    s.remove_prefix(1);
  }
  if (s.empty()) return false;
  unsigned long long mag = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), mag, base);
  if (ec != std::errc{} || ptr != s.data() + s.size()) return false;
  constexpr auto max = static_cast<unsigned long long>(std::numeric_limits<long long>::max());
  if (mag > max) return false;
  out = neg ? -static_cast<long long>(mag) : static_cast<long long>(mag);
  return true;
}

long long parse_int(const value_ctx& v, long long lo, long long hi) {
  long long n = 0;
  if (!parse_integer_text(v.value, n)) v.fail("expected an integer");
  if (n < lo || n > hi) {
    if (hi == std::numeric_limits<int>::max()) v.fail(fmt::format("must be at least {}", lo));
    v.fail(fmt::format("must be between {} and {}", lo, hi));
  }
  return n;
}

int parse_nonneg_int(const value_ctx& v) {
  return static_cast<int>(parse_int(v, 0, std::numeric_limits<int>::max()));
}

int parse_octal_mode(const value_ctx& v) {
  std::string_view s = trim(v.value);
  unsigned mode = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), mode, 8);
  if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size() || mode > 07777)
    v.fail("expected an octal file mode such as 0777");
  return static_cast<int>(mode);
}

bool parse_bool(const value_ctx& v) {
  std::string s = lower(trim(v.value));
  if (s == "1" || s == "yes" || s == "on" || s == "true") return true;
  if (s == "0" || s == "no" || s == "off" || s == "false") return false;
  long long n = 0;
  if (parse_integer_text(s, n) && n >= 0) return n != 0;
  v.fail("expected a boolean (0/1, yes/no, on/off, true/false)");
}

/// Seconds, optionally with a unit; allow_minus_one admits the literal -1 ("not set").
double parse_duration(const value_ctx& v, bool allow_minus_one = false) {
  std::string_view s = trim(v.value);
  if (allow_minus_one && s == "-1") return -1;
  double n = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n, std::chars_format::fixed);
  if (s.empty() || ec != std::errc{} || !std::isfinite(n))
    v.fail("expected a duration such as 30, 0.5, 100ms, 30s, 5min, 1h");
  if (n < 0) v.fail("must not be negative");
  std::string unit =
      lower(trim(std::string_view(ptr, static_cast<std::size_t>(s.data() + s.size() - ptr))));
  double scale = 0;
  if (unit.empty() || unit == "s")
    scale = 1;
  else if (unit == "us")
    scale = 1e-6;
  else if (unit == "ms")
    scale = 1e-3;
  else if (unit == "min")
    scale = 60;
  else if (unit == "h")
    scale = 3600;
  else if (unit == "d")
    scale = 86400;
  else
    v.fail("unknown time unit (use us, ms, s, min, h or d)");
  return n * scale;
}

std::vector<std::string> parse_list(std::string_view s) {
  std::vector<std::string> out;
  while (true) {
    auto comma = s.find(',');
    auto item = trim(s.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

pool_mode parse_pool_mode(const value_ctx& v) {
  auto s = trim(v.value);
  if (iequals(s, "session")) return pool_mode::session;
  if (iequals(s, "transaction")) return pool_mode::transaction;
  if (iequals(s, "statement")) return pool_mode::statement;
  v.fail("expected session, transaction or statement");
}

auth_type parse_auth_type(const value_ctx& v) {
  auto s = trim(v.value);
  static constexpr std::pair<std::string_view, auth_type> names[] = {
      {"trust", auth_type::trust},
      {"any", auth_type::any},
      {"plain", auth_type::plain},
      {"md5", auth_type::md5},
      {"scram-sha-256", auth_type::scram_sha_256},
      {"cert", auth_type::cert},
      {"hba", auth_type::hba},
      {"pam", auth_type::pam}};
  for (const auto& [name, a] : names)
    if (iequals(s, name)) return a;
  if (iequals(s, "ldap")) v.fail("auth_type ldap is not supported by sluice");
  v.fail("expected trust, any, plain, md5, scram-sha-256, cert, hba or pam");
}

void check_one_of(const value_ctx& v, std::initializer_list<std::string_view> allowed) {
  auto s = trim(v.value);
  for (auto a : allowed)
    if (iequals(s, a)) return;
  std::string list;
  for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  v.fail(fmt::format("expected one of {}", list));
}

// ---------------------------------------------------------------------------------------------
// [pgbouncer]

/// Keys PgBouncer (1.2x) documents or accepts in [pgbouncer] that sluice does not act on yet.
constexpr std::string_view unsupported_pgbouncer_keys[] = {
    "auth_dbname",
    "auth_hba_file",
    "auth_ident_file",
    "auth_ldap_options",
    "auth_query",
    "auth_user",
    "autodb_idle_timeout",
    "cancel_wait_timeout",
    "client_tls13_ciphers",
    "client_tls_ca_file",
    "client_tls_cert_file",
    "client_tls_ciphers",
    "client_tls_dheparams",
    "client_tls_ecdhcurve",
    "client_tls_key_file",
    "client_tls_protocols",
    "client_tls_sslmode",
    "conffile",
    "disable_pqexec",
    "dns_max_ttl",
    "dns_nxdomain_ttl",
    "dns_zone_check_period",
    "job_name",
    "log_stats",
    "login_notify_message",
    "max_db_client_connections",
    "max_prepared_statements",
    "max_user_client_connections",
    "peer_id",
    "pool_idle_timeout",
    "query_wait_notify",
    "resolv_conf",
    "sbuf_loopcnt",
    "scram_iterations",
    "server_fast_close",
    "server_round_robin",
    "server_tls13_ciphers",
    "server_tls_ca_file",
    "server_tls_cert_file",
    "server_tls_ciphers",
    "server_tls_key_file",
    "server_tls_protocols",
    "server_tls_sslmode",
    "service_name",
    "so_reuseport",
    "stats_period",
    "suspend_timeout",
    "syslog",
    "syslog_facility",
    "syslog_ident",
    "transaction_timeout",
    "unix_socket_group",
};

bool is_unsupported_pgbouncer_key(std::string_view key) {
  return std::find(std::begin(unsupported_pgbouncer_keys), std::end(unsupported_pgbouncer_keys),
                   key) != std::end(unsupported_pgbouncer_keys);
}

/// Sets one honoured [pgbouncer] key; false if the key is not one of them.
bool set_pgbouncer_key(config& c, const value_ctx& v) {
  const std::string_view k = v.key;
  const std::string val(trim(v.value));
  auto dur = [&] { return parse_duration(v); };
  auto nonneg = [&] { return parse_nonneg_int(v); };

  // listening
  if (k == "listen_addr")
    c.listen_addr = parse_list(val);
  else if (k == "listen_port")
    c.listen_port = static_cast<int>(parse_int(v, 1, 65535));
  else if (k == "unix_socket_dir")
    c.unix_socket_dir = val;
  else if (k == "unix_socket_mode")
    c.unix_socket_mode = parse_octal_mode(v);
  else if (k == "listen_backlog")
    c.listen_backlog = nonneg();
  // auth
  else if (k == "auth_type")
    c.auth = parse_auth_type(v);
  else if (k == "auth_file")
    c.auth_file = val;
  else if (k == "admin_users")
    c.admin_users = parse_list(val);
  else if (k == "stats_users")
    c.stats_users = parse_list(val);
  // pools
  else if (k == "pool_mode")
    c.mode = parse_pool_mode(v);
  else if (k == "max_client_conn")
    c.max_client_conn = nonneg();
  else if (k == "default_pool_size")
    c.default_pool_size = nonneg();
  else if (k == "min_pool_size")
    c.min_pool_size = nonneg();
  else if (k == "reserve_pool_size")
    c.reserve_pool_size = nonneg();
  else if (k == "reserve_pool_timeout")
    c.reserve_pool_timeout = dur();
  else if (k == "max_db_connections")
    c.max_db_connections = nonneg();
  else if (k == "max_user_connections")
    c.max_user_connections = nonneg();
  // server lifecycle
  else if (k == "server_idle_timeout")
    c.server_idle_timeout = dur();
  else if (k == "server_lifetime")
    c.server_lifetime = dur();
  else if (k == "server_connect_timeout")
    c.server_connect_timeout = dur();
  else if (k == "server_login_retry")
    c.server_login_retry = dur();
  else if (k == "server_reset_query")
    c.server_reset_query = val;
  else if (k == "server_reset_query_always")
    c.server_reset_query_always = parse_bool(v);
  else if (k == "server_check_query")
    c.server_check_query = val;
  else if (k == "server_check_delay")
    c.server_check_delay = dur();
  // client timeouts
  else if (k == "query_wait_timeout")
    c.query_wait_timeout = dur();
  else if (k == "query_timeout")
    c.query_timeout = dur();
  else if (k == "client_idle_timeout")
    c.client_idle_timeout = dur();
  else if (k == "client_login_timeout")
    c.client_login_timeout = dur();
  else if (k == "idle_transaction_timeout")
    c.idle_transaction_timeout = dur();
  // protocol
  else if (k == "ignore_startup_parameters")
    c.ignore_startup_parameters = parse_list(val);
  else if (k == "track_extra_parameters")
    c.track_extra_parameters = parse_list(val);
  else if (k == "application_name_add_host")
    c.application_name_add_host = parse_bool(v);
  else if (k == "pkt_buf")
    c.pkt_buf = static_cast<int>(parse_int(v, 512, std::numeric_limits<int>::max()));
  else if (k == "max_packet_size")
    c.max_packet_size = static_cast<std::uint32_t>(parse_int(v, 1024, 2147483647));
  // tcp
  else if (k == "tcp_keepalive")
    c.tcp_keepalive = parse_bool(v);
  else if (k == "tcp_keepcnt")
    c.tcp_keepcnt = nonneg();
  else if (k == "tcp_keepidle")
    c.tcp_keepidle = nonneg();
  else if (k == "tcp_keepintvl")
    c.tcp_keepintvl = nonneg();
  else if (k == "tcp_user_timeout")
    c.tcp_user_timeout = nonneg();
  else if (k == "tcp_defer_accept")
    c.tcp_defer_accept = parse_bool(v);
  else if (k == "tcp_socket_buffer")
    c.tcp_socket_buffer = nonneg();
  // logging and process
  else if (k == "logfile")
    c.logfile = val;
  else if (k == "pidfile")
    c.pidfile = val;
  else if (k == "user")
    c.user = val;
  else if (k == "log_connections")
    c.log_connections = parse_bool(v);
  else if (k == "log_disconnections")
    c.log_disconnections = parse_bool(v);
  else if (k == "log_pooler_errors")
    c.log_pooler_errors = parse_bool(v);
  else if (k == "verbose")
    c.verbose = nonneg();
  else
    return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// connection strings ([databases], [users], [peers])

struct conn_pair {
  std::string key;  ///< lower-cased
  std::string value;
};

/// libpq-style "k=v k2='quoted v'": blanks around '=' allowed; a quoted value ends at the
/// closing quote, '' and \x inside quotes stand for ' and x; unquoted values end at a blank.
std::vector<conn_pair> split_connstring(std::string_view s, const std::string& what,
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

std::string quote_name(const std::string& name) {
  return fmt::format("\"{}\"", name);
}

// ---------------------------------------------------------------------------------------------
// the ini reader

constexpr int max_include_depth = 10;

bool is_key_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-' || c == '*';
}

std::string dirname_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

struct where_set {
  std::string file;
  int line = 0;
};

class ini_loader {
 public:
  explicit ini_loader(config& c) : cfg_(c) {}

  void load(const std::string& path) {
    std::string text;
    if (int err = read_whole_file(path, text))
      throw config_error(path, 0, fmt::format("cannot read config file: {}", std::strerror(err)));
    parse(path, text, 0);
    if (!got_main_) throw config_error(path, 0, "the [pgbouncer] section is missing");
    validate(path);
  }

 private:
  config& cfg_;
  std::string section_;  ///< lower-cased; empty before the first section header
  bool got_main_ = false;
  std::map<std::string, where_set> seen_;  ///< [pgbouncer] key -> where it was last set

  void parse(const std::string& file, const std::string& text, int depth) {
    auto lines = split_lines(text);
    for (std::size_t n = 0; n < lines.size(); ++n) {
      const int line = static_cast<int>(n) + 1;
      std::string_view s = trim(lines[n]);
      if (s.empty()) continue;
      if (s == "%include") throw config_error(file, line, "%include without a file name");
      if (s.size() > 8 && s.substr(0, 8) == "%include" && is_blank(s[8])) {
        include(file, line, std::string(trim(s.substr(8))), depth);
        continue;
      }
      if (s.front() == ';' || s.front() == '#') continue;
      if (s.front() == '[') {
        auto close = s.find(']');
        if (close == std::string_view::npos)
          throw config_error(file, line, "syntax error: section header without ']'");
        auto rest = trim(s.substr(close + 1));
        if (!rest.empty() && rest.front() != ';' && rest.front() != '#')
          throw config_error(file, line, "syntax error: unexpected text after the section header");
        start_section(file, line, std::string(trim(s.substr(1, close - 1))));
        continue;
      }
      auto [key, rest] = read_key(file, line, s);
      rest = trim(rest);
      if (rest.empty() || rest.front() != '=')
        throw config_error(file, line, "syntax error: expected 'key = value'");
      rest.remove_prefix(1);
      set(file, line, key, std::string(trim(rest)));
    }
  }

  /// Reads the key at the start of s: quoted ("..."/'...' with doubled quotes) or bare.
  static std::pair<std::string, std::string_view> read_key(const std::string& file, int line,
                                                           std::string_view s) {
    std::string key;
    if (s.front() == '"' || s.front() == '\'') {
      const char q = s.front();
      std::size_t i = 1;
      bool closed = false;
      while (i < s.size()) {
        if (s[i] == q) {
          if (i + 1 < s.size() && s[i + 1] == q) {
            key += q;
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        key += s[i++];
      }
      if (!closed) throw config_error(file, line, "syntax error: unterminated quoted name");
      if (key.empty()) throw config_error(file, line, "syntax error: empty quoted name");
      return {key, s.substr(i)};
    }
    std::size_t i = 0;
    while (i < s.size() && is_key_char(s[i])) ++i;
    if (i == 0) throw config_error(file, line, "syntax error: expected 'key = value'");
    return {std::string(s.substr(0, i)), s.substr(i)};
  }

  void include(const std::string& file, int line, const std::string& target, int depth) {
    if (target.empty()) throw config_error(file, line, "%include without a file name");
    if (depth + 1 > max_include_depth)
      throw config_error(
          file, line,
          fmt::format("%include nesting deeper than {} (include cycle?)", max_include_depth));
    std::string path = target;
    std::string text;
    int err = read_whole_file(path, text);
    if (err && target.front() != '/') {
      std::string alt = dirname_of(file) + "/" + target;
      if (read_whole_file(alt, text) == 0) {
        path = alt;
        err = 0;
      }
    }
    if (err)
      throw config_error(
          file, line,
          fmt::format("cannot read included file \"{}\": {}", target, std::strerror(err)));
    parse(path, text, depth + 1);
  }

  void start_section(const std::string& file, int line, const std::string& name) {
    std::string s = lower(name);
    if (s != "pgbouncer" && s != "databases" && s != "users" && s != "peers" && s != "sluice")
      throw config_error(file, line, fmt::format("unknown section [{}]", name));
    if (s == "pgbouncer") got_main_ = true;
    section_ = s;
  }

  void set(const std::string& file, int line, const std::string& key, const std::string& value) {
    if (section_.empty())
      throw config_error(file, line, fmt::format("\"{}\" is outside of any section", key));
    if (section_ == "pgbouncer") return set_pgbouncer(file, line, lower(key), value);
    if (section_ == "sluice") return set_sluice(file, line, lower(key), value);
    if (section_ == "databases") return set_database(file, line, key, value);
    if (section_ == "users") return set_user(file, line, key, value);
    return set_peer(file, line, key, value);
  }

  void set_pgbouncer(const std::string& file, int line, const std::string& key,
                     const std::string& value) {
    const value_ctx v{key, value, file, line};
    if (set_pgbouncer_key(cfg_, v)) {
      seen_[key] = {file, line};
      return;
    }
    if (is_unsupported_pgbouncer_key(key)) {
      // An empty value is PgBouncer's "not set": nothing to warn about.
      if (!value.empty())
        cfg_.unsupported.push_back(fmt::format("{} ({})", key, where(file, line)));
      return;
    }
    throw config_error(file, line, fmt::format("unknown parameter: {}", key));
  }

  void set_sluice(const std::string& file, int line, const std::string& key,
                  const std::string& value) {
    const value_ctx v{key, value, file, line};
    if (key == "workers") {
      cfg_.workers = static_cast<int>(parse_int(v, 0, 4096));
      return;
    }
    throw config_error(file, line, fmt::format("unknown parameter in [sluice]: {}", key));
  }

  void set_database(const std::string& file, int line, const std::string& name,
                    const std::string& value) {
    if (name == "pgbouncer")
      throw config_error(file, line,
                         "database name \"pgbouncer\" is reserved for the admin console");
    database_config db = parse_database_entry(name, value, file, line);
    cfg_.unsupported.insert(cfg_.unsupported.end(), db.unsupported.begin(), db.unsupported.end());
    for (auto& existing : cfg_.databases) {
      if (existing.name == db.name) {  // a later definition replaces an earlier one
        existing = std::move(db);
        return;
      }
    }
    cfg_.databases.push_back(std::move(db));
  }

  void set_user(const std::string& file, int line, const std::string& name,
                const std::string& value) {
    const std::string what = fmt::format("user {}", quote_name(name));
    for (const auto& [k, val] : split_connstring(value, what, file, line)) {
      const value_ctx v{k, val, file, line};
      if (k == "pool_mode")
        parse_pool_mode(v);
      else if (k == "pool_size" || k == "reserve_pool_size" || k == "max_user_connections" ||
               k == "max_user_client_connections")
        parse_nonneg_int(v);
      else if (k == "query_timeout" || k == "idle_transaction_timeout" ||
               k == "transaction_timeout" || k == "client_idle_timeout")
        parse_duration(v);
      else if (k == "query_wait_timeout")
        parse_duration(v, true);
      else
        throw config_error(file, line, fmt::format("{}: unknown user parameter: {}", what, k));
      cfg_.unsupported.push_back(fmt::format("{}: {} ({})", what, k, where(file, line)));
    }
  }

  void set_peer(const std::string& file, int line, const std::string& name,
                const std::string& value) {
    long long id = 0;
    if (!parse_integer_text(name, id) || id < 1 || id > 65535)
      throw config_error(file, line,
                         fmt::format("peer id \"{}\" must be a number between 1 and 65535", name));
    const std::string what = fmt::format("peer {}", name);
    bool host = false;
    for (const auto& [k, val] : split_connstring(value, what, file, line)) {
      const value_ctx v{k, val, file, line};
      if (k == "host")
        host = true;
      else if (k == "port")
        parse_int(v, 1, 65535);
      else if (k == "pool_size")
        parse_nonneg_int(v);
      else
        throw config_error(file, line, fmt::format("{}: unknown peer parameter: {}", what, k));
    }
    if (!host) throw config_error(file, line, fmt::format("{}: host is required", what));
    cfg_.unsupported.push_back(fmt::format("{} ({})", what, where(file, line)));
  }

  void validate(const std::string& main_file) {
    const bool needs_file = cfg_.auth == auth_type::plain || cfg_.auth == auth_type::md5 ||
                            cfg_.auth == auth_type::scram_sha_256;
    if (needs_file && cfg_.auth_file.empty()) {
      const std::string msg =
          fmt::format("auth_type = {} requires auth_file to be set", to_string(cfg_.auth));
      if (auto it = seen_.find("auth_file"); it != seen_.end())
        throw config_error(it->second.file, it->second.line, msg);
      throw config_error(main_file, 0, msg);
    }
  }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// public parsers

database_config parse_database_entry(const std::string& name, const std::string& value,
                                     const std::string& file, int line) {
  database_config db;
  db.name = name;
  db.source = where(file, line);
  const std::string what = fmt::format("database {}", quote_name(name));
  if (name.empty()) throw config_error(file, line, "empty database name");

  for (auto& [k, val] : split_connstring(value, what, file, line)) {
    const value_ctx v{k, val, file, line};
    auto count = [&] { return parse_nonneg_int(v); };
    if (k == "host")
      db.host = val;
    else if (k == "port")
      db.port = static_cast<int>(parse_int(v, 1, 65535));
    else if (k == "dbname")
      db.dbname = val;
    else if (k == "user")
      db.user = val;
    else if (k == "password")
      db.password = val;
    else if (k == "pool_size")
      db.pool_size = count();
    else if (k == "min_pool_size")
      db.min_pool_size = count();
    else if (k == "reserve_pool" || k == "reserve_pool_size")
      db.reserve_pool_size = count();
    else if (k == "max_db_connections")
      db.max_db_connections = count();
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
    else {
      // Documented, accepted, not acted on yet.
      if (k == "auth_user" || k == "auth_query" || k == "auth_dbname") {
      } else if (k == "max_db_client_connections") {
        count();
      } else if (k == "server_lifetime") {
        parse_duration(v);
      } else if (k == "query_wait_timeout") {
        parse_duration(v, true);
      } else if (k == "load_balance_hosts") {
        check_one_of(v, {"disable", "round-robin"});
      } else if (k == "target_session_attrs") {
        check_one_of(v, {"any", "read-write", "read-only", "primary", "standby"});
      } else {
        throw config_error(file, line,
                           fmt::format("{}: unrecognized connection parameter: {}", what, k));
      }
      db.unsupported.push_back(fmt::format("{}: {} ({})", what, k, db.source));
    }
  }
  return db;
}

config load_ini(const std::string& path) {
  config c;
  c.file = path;
  ini_loader(c).load(path);
  return c;
}

userlist load_userlist(const std::string& path) {
  std::string text;
  if (int err = read_whole_file(path, text))
    throw config_error(path, 0, fmt::format("cannot read auth_file: {}", std::strerror(err)));

  userlist out;
  auto lines = split_lines(text);
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const int line = static_cast<int>(n) + 1;
    std::string_view s = trim(lines[n]);
    if (s.empty() || s.front() == ';' || s.front() == '#') continue;

    std::size_t i = 0;
    // One "..." field with "" standing for a literal quote; false if it is not there.
    auto field = [&](std::string& dst) {
      while (i < s.size() && is_blank(s[i])) ++i;
      if (i >= s.size() || s[i] != '"') return false;
      ++i;
      while (i < s.size()) {
        if (s[i] == '"') {
          if (i + 1 < s.size() && s[i + 1] == '"') {
            dst += '"';
            i += 2;
            continue;
          }
          ++i;
          return true;
        }
        dst += s[i++];
      }
      return false;  // unterminated
    };
    std::string user, password;
    if (!field(user))
      throw config_error(path, line, "broken line: expected \"user name\" \"password\"");
    if (user.empty()) throw config_error(path, line, "broken line: empty user name");
    if (!field(password))
      throw config_error(path, line,
                         fmt::format("broken line: expected a quoted password after \"{}\"", user));
    // The rest of the line is ignored, as PgBouncer does.
    out.passwords[user] = std::move(password);
  }
  return out;
}

}  // namespace sluice
