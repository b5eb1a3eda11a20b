// What a reload changes: the settings whose values differ, and the databases added, removed
// or changed, for the log line after a reload.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "settings.hpp"

namespace sluice {

namespace {

using namespace config_detail;

/// a and b (an entry before and after a reload) reach the same servers the same way. The host
/// list is compared element by element, not as host= and the first port, so that a changed
/// second port counts; target_session_attrs is compared as it applies, so that a new [sluice]
/// default changes every entry that does not set its own.
bool same_database(const config& ca, const database_config& a, const config& cb,
                   const database_config& b) {
  return a.hosts == b.hosts && a.load_balance_hosts == b.load_balance_hosts &&
         effective_session_attrs(ca, a) == effective_session_attrs(cb, b) && a.host == b.host &&
         a.port == b.port && a.dbname == b.dbname && a.user == b.user && a.password == b.password &&
         a.pool_size == b.pool_size && a.min_pool_size == b.min_pool_size &&
         a.reserve_pool_size == b.reserve_pool_size &&
         a.max_db_connections == b.max_db_connections &&
         a.max_db_client_connections == b.max_db_client_connections && a.mode == b.mode &&
         a.connect_query == b.connect_query && a.client_encoding == b.client_encoding &&
         a.datestyle == b.datestyle && a.timezone == b.timezone &&
         a.application_name == b.application_name && a.server_lifetime == b.server_lifetime &&
         a.query_wait_timeout == b.query_wait_timeout;
}

bool same_user(const user_config& a, const user_config& b) {
  return a.pool_size == b.pool_size && a.reserve_pool_size == b.reserve_pool_size &&
         a.max_user_connections == b.max_user_connections &&
         a.max_user_client_connections == b.max_user_client_connections && a.mode == b.mode &&
         a.query_timeout == b.query_timeout &&
         a.idle_transaction_timeout == b.idle_transaction_timeout &&
         a.client_idle_timeout == b.client_idle_timeout &&
         a.transaction_timeout == b.transaction_timeout &&
         a.query_wait_timeout == b.query_wait_timeout;
}

const database_config* find_exact(const config& c, const std::string& name) {
  for (const auto& db : c.databases)
    if (db.name == name) return &db;
  return nullptr;
}

}  // namespace

config_diff diff_configs(const config& before, const config& after) {
  config_diff d;
  for (const setting& s : all_settings()) {
    if (!s.acted_on()) continue;
    const std::string a = setting_value(s, before), b = setting_value(s, after);
    if (a == b) continue;
    // No row holds a secret: passwords live in [databases] and the auth_file, which are
    // reported only as "changed".
    d.changes.push_back(
        fmt::format("{} {} -> {}", s.name, a.empty() ? "''" : a, b.empty() ? "''" : b));
    if (!s.reloadable) d.needs_restart.emplace_back(s.name);
  }
  for (const auto& db : after.databases) {
    const database_config* old = find_exact(before, db.name);
    if (!old)
      d.changes.push_back(fmt::format("database {} added", db.name));
    else if (!same_database(before, *old, after, db))
      d.changes.push_back(fmt::format("database {} changed", db.name));
  }
  for (const auto& db : before.databases)
    if (!find_exact(after, db.name))
      d.changes.push_back(fmt::format("database {} removed", db.name));
  for (const auto& [name, u] : after.users) {
    const user_config* old_u = before.find_user(name);
    if (!old_u)
      d.changes.push_back(fmt::format("user {} added", name));
    else if (!same_user(*old_u, u))
      d.changes.push_back(fmt::format("user {} changed", name));
  }
  for (const auto& [name, u] : before.users)
    if (!after.find_user(name)) d.changes.push_back(fmt::format("user {} removed", name));
  return d;
}

}  // namespace sluice
