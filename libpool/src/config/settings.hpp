#pragma once
// The settings table: one row per key of [pgbouncer] and [sluice], with its type, default,
// section, whether it can change at run time, and how it is applied. The ini reader looks keys
// up here; SHOW CONFIG, --check and the man page can iterate all_settings(). Adding a key is
// adding a row in settings.cpp, not code.
//
// Defaults live in struct config's member initializers; a row's default_text is the same value
// written as pgbouncer's SHOW CONFIG prints it, and test_settings.cpp parses every row's text
// and compares it with config{} so the two cannot drift apart.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sluice/config.hpp"
#include "values.hpp"

namespace sluice::config_detail {

/// Which parser reads a setting's value (see values.hpp).
enum class value_type {
  string,         ///< the trimmed text
  integer,        ///< parse_int within [min, max]
  boolean,        ///< parse_bool
  duration,       ///< parse_duration, in seconds
  list,           ///< parse_list (comma-separated)
  octal_mode,     ///< parse_octal_mode
  pool_mode,      ///< parse_pool_mode
  auth_type,      ///< parse_auth_type
  session_attrs,  ///< parse_session_attrs
  one_of,         ///< check_one_of(choices), kept as text
};

/// The ini section a setting is read from.
enum class section { pgbouncer, sluice };

/// The config member a setting is stored in; std::monostate for a setting that is accepted but
/// not acted on yet.
using binding =
    std::variant<std::monostate, std::string config::*, std::vector<std::string> config::*,
                 int config::*, std::uint32_t config::*, double config::*, bool config::*,
                 pool_mode config::*, auth_type config::*, session_attrs config::*>;

/// How a value is read and where it goes. Made by the typed factories in settings.cpp, which
/// only pair a type with a member that can hold it.
struct value_spec {
  value_type type = value_type::string;
  long long min = 0, max = 0;                 ///< integer bounds
  std::span<const std::string_view> choices;  ///< one_of
  binding target;
  /// For a key accepted without a member: why it has no effect in sluice (its startup
  /// WARNING says so). Empty = not acted on yet.
  std::string_view no_effect;
};

/// One row of the table.
struct setting {
  std::string_view name;          ///< lower case, as pgbouncer spells it
  value_spec value;               ///< type, bounds, member
  std::string_view default_text;  ///< as SHOW CONFIG prints it ("600", "DISCARD ALL", "0777")
  bool reloadable = false;        ///< a new value takes effect on RELOAD (pgbouncer's changeable)
  section sect = section::pgbouncer;

  /// False for a key that is accepted but not acted on: a non-empty value only adds
  /// "key (file:line)" to config::unsupported (or, with a no_effect reason, "key
  /// (file:line): has no effect ...: reason" to config::no_effect), and the value is not
  /// checked.
  bool acted_on() const noexcept { return !std::holds_alternative<std::monostate>(value.target); }
};

/// Every row: [pgbouncer] rows, then [sluice] rows.
std::span<const setting> all_settings() noexcept;


/// The row for key (lower case) in sect, or nullptr if the section has no such key.
const setting* find_setting(section sect, std::string_view key) noexcept;

/// A value read by a row's type, before it is stored.
using parsed_value = std::variant<std::string, std::vector<std::string>, long long, double, bool,
                                  pool_mode, auth_type, session_attrs>;

/// Reads v.value by s's type; throws config_error (from the parsers) if it is not valid.
parsed_value parse_value(const setting& s, const value_ctx& v);
/// The global auth_dbname may not name the admin console's "pgbouncer" (a [databases]
/// entry's is refused at login instead, as pgbouncer does).
void check_auth_dbname(const value_ctx& v, std::string_view db);

/// s's value in cfg as SHOW CONFIG and the reload log line print it (pgbouncer.ini's
/// spelling: "600", "0777", "a,b"); for a row not acted on, the value it was given, else its
/// default text.
std::string setting_value(const setting& s, const config& cfg);

/// Applies one `key = value` of the row s to cfg: for a row acted on, parses the value and
/// stores it in the member; otherwise notes a non-empty value in cfg.unsupported as
/// "key (file:line)", or in cfg.no_effect with its reason (an empty value is pgbouncer's
/// "not set": nothing to note).
void apply(const setting& s, config& cfg, const value_ctx& v);

}  // namespace sluice::config_detail

namespace sluice {
/// The shards `workers = 0` starts, given the cores this process may use: one per core when
/// the cores are sluice's own, half of them (at least one) when every [databases] server is
/// on this machine (Unix sockets, loopback), whose PostgreSQL needs cores too. On 2 cores
/// shared with PostgreSQL one shard beats two (bench/README.md, "Workers").
int default_workers(const config& c, int usable_cores);
}  // namespace sluice
