#pragma once
// Which host of a database's list a new server connection goes to, and whether a server serves
// the pool (target_session_attrs, load_balance_hosts). Sans-io: the pool feeds it what servers
// report about themselves; unit-tested without sockets (tests/unit/test_pool_hosts.cpp).

#include <cstddef>
#include <string_view>
#include <vector>

#include "pool/params.hpp"
#include "sluice/config.hpp"

namespace sluice {

/// What a server says about itself: the ParameterStatus PostgreSQL 14+ reports at login and
/// again whenever they change (a promotion, ALTER SYSTEM ... default_transaction_read_only).
struct server_role {
  bool known = false;        ///< both parameters were reported
  bool hot_standby = false;  ///< in_hot_standby = on: in recovery
  bool read_only = false;    ///< default_transaction_read_only = on
  /// "primary", "standby", "read-only" (a primary that refuses writes by default), "unknown".
  std::string_view name() const noexcept;
  bool operator==(const server_role&) const = default;
};

/// The role from a server's reported parameters; unknown unless both are there (an older
/// server: the caller asks it with role_query instead).
server_role role_from_params(const param_map& params);

/// For servers that report neither parameter (PostgreSQL before 14): one row, two columns,
/// "t"/"f" each: in recovery, and read-only by default.
inline constexpr std::string_view role_query =
    "select pg_is_in_recovery(), current_setting('default_transaction_read_only')::bool";
/// The role from role_query's two values.
server_role role_from_query(std::string_view in_recovery, std::string_view read_only);

/// Whether a server of role r serves a pool asking for `attrs`, libpq 14's meanings. For
/// prefer-standby the first pass over the hosts takes standbys only and the second (when no
/// host was a standby) any server. An unknown role suits only `any`.
bool role_suits(session_attrs attrs, const server_role& r, bool first_pass = true);
/// prefer-standby looks at the list twice; every other value once.
inline int passes(session_attrs attrs) noexcept {
  return attrs == session_attrs::prefer_standby ? 2 : 1;
}

/// The hosts, by index, in the order a new connection tries them: from `start` on, wrapping
/// around (start = 0 for load_balance_hosts = disable; a turning counter for round-robin).
std::vector<std::size_t> host_order(std::size_t hosts, std::size_t start);

}  // namespace sluice
