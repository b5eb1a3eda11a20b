#pragma once
// Text helpers and value parsers shared by the config readers (ini.cpp, connstring.cpp,
// userlist.cpp) and the settings table. Internal to libpool, so not in sluice/config.hpp.
//
// Every parser throws config_error(file, line, ...) naming the key and the value, worded
// "invalid value \"<value>\" for <key>: <what was expected>".

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/config.hpp"

namespace sluice::config_detail {

// ---- text

/// Blank as libusual's ini parser sees it: space, tab, CR, FF, VT (not newline).
bool is_blank(char c) noexcept;
/// Strips blanks and newlines at both ends.
std::string_view trim(std::string_view s) noexcept;
/// ASCII lower case (config keys are ASCII; no locale).
std::string lower(std::string_view s);
/// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b) noexcept;
/// "file:line", as messages and config::unsupported entries write a place.
std::string where(const std::string& file, int line);
/// The largest configuration file sluice reads (pgbouncer.ini and its includes, auth_file,
/// auth_hba_file, auth_ident_file): a path naming a device or a runaway file is an error,
/// not an endless read.
constexpr std::size_t max_config_file_bytes = std::size_t{64} << 20;
/// Reads a whole file into out; returns 0 or the errno of the failure (EFBIG above
/// max_config_file_bytes).
int read_whole_file(const std::string& path, std::string& out);
/// Splits text at '\n' and drops a '\r' before it; a final newline adds no empty line.
std::vector<std::string_view> split_lines(std::string_view text);

// ---- values

/// The key and value being read and where they are, for error messages.
struct value_ctx {
  std::string_view key;
  std::string_view value;
  const std::string& file;
  int line;

  /// Throws config_error: invalid value "<value>" for <key>: <expected>.
  [[noreturn]] void fail(std::string_view expected) const;
};

/// strtol(..., 0)-like: optional sign, "0x" hex, leading-0 octal, else decimal. Whole string
/// (after trimming); false if it is not an integer or does not fit a long long.
bool parse_integer_text(std::string_view s, long long& out);
/// An integer in [lo, hi]; an upper bound of INT_MAX is reported as "must be at least lo".
long long parse_int(const value_ctx& v, long long lo, long long hi);
/// An integer in [0, INT_MAX].
int parse_nonneg_int(const value_ctx& v);
/// A file mode, always octal ("777" and "0777" are the same), at most 07777.
int parse_octal_mode(const value_ctx& v);
/// 0/1/yes/no/on/off/true/false, or any non-negative integer (non-zero = true), as PgBouncer
/// stores booleans as integers.
bool parse_bool(const value_ctx& v);
/// Non-negative seconds (fractions allowed), optionally with a unit us, ms, s, min, h, d;
/// allow_minus_one admits the literal -1 ("not set").
double parse_duration(const value_ctx& v, bool allow_minus_one = false);
/// Comma-separated items, each trimmed; empty items are dropped.
std::vector<std::string> parse_list(std::string_view s);
/// session, transaction or statement, in any case.
pool_mode parse_pool_mode(const value_ctx& v);
/// One of the auth_type names to_string(auth_type) spells, in any case; ldap is refused.
auth_type parse_auth_type(const value_ctx& v);
/// disable or round-robin, in any case.
load_balance parse_load_balance(const value_ctx& v);
/// any, read-write, read-only, primary, standby or prefer-standby, in any case (libpq 14).
session_attrs parse_session_attrs(const value_ctx& v);
/// Checks that the value is one of allowed (case-insensitive).
void check_one_of(const value_ctx& v, std::span<const std::string_view> allowed);
void check_one_of(const value_ctx& v, std::initializer_list<std::string_view> allowed);

// ---- errors

/// For readers that read on after an error: nothing if `errors` is empty, else throws the
/// first with config_error::all() listing every one, in the order given.
void throw_collected(const std::vector<config_error>& errors);

}  // namespace sluice::config_detail
