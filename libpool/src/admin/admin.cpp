// The console's statements: parsing, who may run what, and the dispatch to the handlers.
#include "admin/admin.hpp"

#include <fmt/format.h>


#include "admin/statement.hpp"
#include "sluice/log.hpp"

namespace sluice {

// ---------------------------------------------------------------------------- result_builder

result_builder& result_builder::col(std::string name, std::int32_t oid) {
  r_.columns.push_back({std::move(name), oid});
  return *this;
}
result_builder& result_builder::row() {
  r_.rows.emplace_back();
  r_.rows.back().reserve(r_.columns.size());
  return *this;
}
result_builder& result_builder::add(std::string v) {
  r_.rows.back().emplace_back(std::move(v));
  return *this;
}
result_builder& result_builder::null() {
  r_.rows.back().emplace_back(std::nullopt);
  return *this;
}
console_result result_builder::done(std::string tag) {
  for (const auto& row : r_.rows)
    if (row.size() != r_.columns.size()) {
      // A handler that forgot a column: fail loudly instead of sending a malformed row.
      return console_result::failure(
          "XX000", fmt::format("internal error: a row has {} values for {} columns", row.size(),
                               r_.columns.size()));
    }
  r_.tag = std::move(tag);
  return std::move(r_);
}

// ---------------------------------------------------------------------------- dispatch

admin_console::admin_console(control& ctl) : ctl_(ctl) {
  shows_ = {
      {"HELP", {&admin_console::show_help, false, ""}},
      {"VERSION", {&admin_console::show_version, false, ""}},
      {"CONFIG", {&admin_console::show_config, false, ""}},
      {"STATE", {&admin_console::show_state, false, ""}},
      {"LISTS", {&admin_console::show_lists, false, ""}},
      {"DNS_HOSTS", {&admin_console::show_dns_hosts, false, ""}},
      {"DNS_ZONES", {&admin_console::show_dns_zones, false, ""}},
      {"PEERS", {&admin_console::show_peers, false, ""}},
      {"PEER_POOLS", {&admin_console::show_peer_pools, false, ""}},
      {"LISTENERS", {&admin_console::show_listeners, false, ""}},
      {"POOLS", {&admin_console::show_pools, false, ""}},
      {"DATABASES", {&admin_console::show_databases, false, ""}},
      {"USERS", {&admin_console::show_users, false, ""}},
      {"CLIENTS", {&admin_console::show_clients, false, ""}},
      {"SERVERS", {&admin_console::show_servers, false, ""}},
      {"SOCKETS", {&admin_console::show_sockets, false, ""}},
      {"ACTIVE_SOCKETS", {&admin_console::show_active_sockets, false, ""}},
      // Admins only, as in pgbouncer: it shows every connection's cancel key.
      {"FDS", {&admin_console::show_fds, true, ""}},
      {"MEM", {&admin_console::show_mem, false, ""}},
      {"STATS", {&admin_console::show_stats, false, ""}},
      {"STATS_TOTALS", {&admin_console::show_stats_totals, false, ""}},
      {"STATS_AVERAGES", {&admin_console::show_stats_averages, false, ""}},
      {"TOTALS", {&admin_console::show_totals, false, ""}},
  };
  commands_ = {
      {"RELOAD", {&admin_console::cmd_reload, true, ""}},
      {"SHUTDOWN", {&admin_console::cmd_shutdown, true, ""}},
      {"PAUSE", {&admin_console::cmd_pause, true, ""}},
      {"RESUME", {&admin_console::cmd_resume, true, ""}},
      {"SUSPEND", {&admin_console::cmd_suspend, true, ""}},
      {"RECONNECT", {&admin_console::cmd_reconnect, true, ""}},
      {"KILL", {&admin_console::cmd_kill, true, ""}},
      {"KILL_CLIENT", {&admin_console::cmd_kill_client, true, ""}},
      {"DISABLE", {&admin_console::cmd_disable, true, ""}},
      {"ENABLE", {&admin_console::cmd_enable, true, ""}},
      {"WAIT_CLOSE", {&admin_console::cmd_wait_close, true, ""}},
      // stats_users may SET the parameters drivers send (ignored); the handler checks the rest
      {"SET", {&admin_console::cmd_set, false, ""}},
  };
}

bool admin_console::returns_rows(std::string_view sql) const {
  std::string verb, what, arg;
  return parse_admin_statement(sql, verb, what, arg) && verb == "SHOW" &&
         shows_.count(what) != 0;
}

awaitable<console_result> admin_console::run(std::string_view sql, const console_user& who,
                                             shard& home) {
  ctl_.stats().console_statement();
  std::string verb, what, arg;
  const auto invalid = [&] {
    return console_result::failure(
        "08P01", fmt::format("invalid command '{}', use SHOW HELP;", std::string(trim_space(sql))));
  };
  if (!parse_admin_statement(sql, verb, what, arg)) co_return invalid();
  const auto& table = verb == "SHOW" ? shows_ : commands_;
  auto it = table.find(verb == "SHOW" ? what : verb);
  if (it == table.end()) co_return invalid();
  if (it->second.needs_admin && !who.admin)
    co_return console_result::failure("08P01", "admin access needed");
  const admin_request req{verb, what, arg, who, home};
  console_result r = co_await (this->*(it->second.fn))(req);
  co_return r;
}

void admin_console::logged_in(shard&) { ctl_.stats().console_login(); }

}  // namespace sluice
