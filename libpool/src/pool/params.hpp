#pragma once
// Tracked session parameters: the ParameterStatus-visible settings sluice keeps equal between
// a client and whichever server it is linked to (client_encoding, DateStyle, TimeZone, ...).

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/config.hpp"

namespace sluice {

/// Parameters by canonical name.
using param_map = std::map<std::string, std::string, std::less<>>;

/// A client's tracked parameters with their key (see tracked_key). Immutable and shared:
/// clients with the same values point to the same set (pool::intern), so an idle client
/// carries a pointer, not a map.
struct param_set {
  param_map values;
  std::string key;
};
using param_set_ptr = std::shared_ptr<const param_set>;

/// The spelling PostgreSQL reports a parameter with ("datestyle" -> "DateStyle"); unknown
/// names are lower-cased.
std::string canonical_param(std::string_view name);
/// True for the always-tracked parameters and track_extra_parameters.
bool is_tracked_param(const config& cfg, std::string_view canonical);
/// The tracked parameters of a map as one string ("name=value\0..."), so that a client and a
/// server are compared with one string comparison instead of a walk over both maps.
std::string tracked_key(const config& cfg, const param_map& params);

/// The statement that gives a server's session the client's value of a tracked parameter,
/// as "SET name=value;". The value is a string literal (E'...' when it holds a backslash, so
/// that standard_conforming_strings does not matter), except search_path: a list of
/// identifiers, as PostgreSQL reports it ("$user", public), given as one literal per element
/// (SET search_path='$user', 'public'), unquoted elements lower-cased as PostgreSQL reads them.
/// A search_path that is not a valid list is given as one literal, which PostgreSQL takes as
/// one schema name. Nothing the client sent is ever SQL outside a literal.
std::string set_statement(std::string_view name, std::string_view value);

/// The startup packet's `options` as pgbouncer reads it: items "-c name=value" (spaces
/// allowed after -c) or "--name=value", separated by whitespace, a backslash taking the next
/// character as it is ("German,\ YMD"). The pairs in order; false on any other shape (a
/// missing '=' or name, an item not starting with -c or --). Every step consumes input.
bool parse_startup_options(std::string_view options,
                           std::vector<std::pair<std::string, std::string>>& out);

}  // namespace sluice
