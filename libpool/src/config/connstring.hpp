#pragma once
// Connection-string entries: [databases] (parse_database_entry, public in sluice/config.hpp),
// [users] and [peers]. Internal to libpool.

#include <string>
#include <vector>

#include "sluice/config.hpp"

namespace sluice::config_detail {

struct conn_pair {
  std::string key;  ///< lower-cased
  std::string value;
};

/// libpq-style "k=v k2='quoted v'": blanks around '=' allowed; a quoted value ends at the
/// closing quote, '' and \x inside quotes stand for ' and x; unquoted values end at a blank.
/// Throws config_error(file, line, "<what>: ...") on a syntax error.
std::vector<conn_pair> split_connstring(std::string_view s, const std::string& what,
                                        const std::string& file, int line);

/// Reads one [users] entry (`name = key=value ...`) into u. Returns one note per key that is
/// accepted but not acted on yet, for config::unsupported: "user \"name\": key (file:line)".
/// Throws config_error on an unknown key or a bad value.
std::vector<std::string> check_user_entry(const std::string& name, const std::string& value,
                                          const std::string& file, int line, user_config& u);

/// Reads one [peers] entry (`id = host=... port=... pool_size=...`; id 1..65535, host
/// required). Throws config_error on a bad id, an unknown key or a bad value.
peer_config check_peer_entry(const std::string& name, const std::string& value,
                             const std::string& file, int line);

}  // namespace sluice::config_detail
