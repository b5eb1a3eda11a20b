#include "values.hpp"

// The value parsers behind every config reader, and the small public pieces of config.hpp
// they rest on (config_error, to_string).

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

namespace sluice {

config_error::config_error(std::string file, int line, const std::string& message)
    : std::runtime_error(line > 0 ? fmt::format("{}:{}: {}", file, line, message)
                                  : fmt::format("{}: {}", file, message)),
      file_(std::move(file)),
      line_(line),
      all_{what()} {}

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

const char* to_string(load_balance l) noexcept {
  switch (l) {
    case load_balance::disable:
      return "disable";
    case load_balance::round_robin:
      return "round-robin";
  }
  return "?";
}

const char* to_string(session_attrs a) noexcept {
  switch (a) {
    case session_attrs::any:
      return "any";
    case session_attrs::read_write:
      return "read-write";
    case session_attrs::read_only:
      return "read-only";
    case session_attrs::primary:
      return "primary";
    case session_attrs::standby:
      return "standby";
    case session_attrs::prefer_standby:
      return "prefer-standby";
  }
  return "?";
}

}  // namespace sluice

namespace sluice::config_detail {

// ---------------------------------------------------------------------------------------------
// text

bool is_blank(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (is_blank(s.front()) || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (is_blank(s.back()) || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

namespace {
char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
}  // namespace

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

int read_whole_file(const std::string& path, std::string& out) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return errno;
  out.clear();
  std::array<char, 8192> buf{};
  for (;;) {
    std::size_t n = std::fread(buf.data(), 1, buf.size(), f);
    if (out.size() + n > max_config_file_bytes) {
      std::fclose(f);
      out.clear();
      return EFBIG;
    }
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
// values

void value_ctx::fail(std::string_view expected) const {
  throw config_error(file, line,
                     fmt::format("invalid value \"{}\" for {}: {}", value, key, expected));
}

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

double parse_duration(const value_ctx& v, bool allow_minus_one) {
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

load_balance parse_load_balance(const value_ctx& v) {
  auto s = trim(v.value);
  for (auto l : {load_balance::disable, load_balance::round_robin})
    if (iequals(s, to_string(l))) return l;
  v.fail("expected disable or round-robin");
}

session_attrs parse_session_attrs(const value_ctx& v) {
  auto s = trim(v.value);
  for (auto a : {session_attrs::any, session_attrs::read_write, session_attrs::read_only,
                 session_attrs::primary, session_attrs::standby, session_attrs::prefer_standby})
    if (iequals(s, to_string(a))) return a;
  v.fail("expected any, read-write, read-only, primary, standby or prefer-standby");
}

void check_one_of(const value_ctx& v, std::span<const std::string_view> allowed) {
  auto s = trim(v.value);
  for (auto a : allowed)
    if (iequals(s, a)) return;
  std::string list;
  for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  v.fail(fmt::format("expected one of {}", list));
}

void check_one_of(const value_ctx& v, std::initializer_list<std::string_view> allowed) {
  check_one_of(v, std::span<const std::string_view>(allowed.begin(), allowed.size()));
}

void throw_collected(const std::vector<config_error>& errors) {
  if (errors.empty()) return;
  config_error first = errors.front();
  std::vector<std::string> all;
  for (const auto& e : errors) all.emplace_back(e.what());
  first.set_all(std::move(all));
  throw first;
}

}  // namespace sluice::config_detail
