#pragma once
// The `pgbouncer` virtual database: statements parsed into commands, run through the
// control API, answered as rows. One file per SHOW family (show_*.cpp), commands.cpp for the
// commands that act.

#include <map>
#include <string>
#include <string_view>

#include "control/control.hpp"
#include "session/console.hpp"

namespace sluice {

/// One parsed console statement.
struct admin_request {
  std::string verb;  ///< upper case: "SHOW", "PAUSE", ... ("SELECT x" is "SHOW x")
  std::string what;  ///< upper case: the SHOW's subject ("POOLS"); empty for other verbs
  std::string arg;   ///< the rest, as written (a database name, a client id, "key = value")
  const console_user& who;
  shard& home;
};

/// Builds a result column by column and row by row: columns are declared once with their
/// types, each row is a list of values given in the same order.
class result_builder {
 public:
  result_builder& text(std::string name) { return col(std::move(name), 25); }
  result_builder& int4(std::string name) { return col(std::move(name), 23); }
  result_builder& int8(std::string name) { return col(std::move(name), 20); }
  result_builder& numeric(std::string name) { return col(std::move(name), 1700); }
  result_builder& bytea(std::string name) { return col(std::move(name), 17); }

  /// Starts a new row; values follow with add().
  result_builder& row();
  result_builder& add(std::string v);
  result_builder& add(std::string_view v) { return add(std::string(v)); }
  result_builder& add(const char* v) { return add(std::string(v)); }
  result_builder& add(long long v) { return add(std::to_string(v)); }
  result_builder& add(unsigned long long v) { return add(std::to_string(v)); }
  result_builder& add(int v) { return add(static_cast<long long>(v)); }
  result_builder& add(unsigned v) { return add(static_cast<unsigned long long>(v)); }
  result_builder& add(long v) { return add(static_cast<long long>(v)); }
  result_builder& add(unsigned long v) { return add(static_cast<unsigned long long>(v)); }
  result_builder& add(bool v) = delete;  // say what a boolean column prints
  result_builder& null();

  console_result done(std::string tag = "SHOW");

 private:
  result_builder& col(std::string name, std::int32_t oid);
  console_result r_;
};

class admin_console final : public console_backend {
 public:
  explicit admin_console(control& ctl);

  bool returns_rows(std::string_view sql) const override;
  awaitable<console_result> run(std::string_view sql, const console_user& who,
                                shard& home) override;
  void logged_in(shard& home) override;

  using handler = awaitable<console_result> (admin_console::*)(const admin_request&);

 private:
  struct entry {
    handler fn;
    bool needs_admin;  ///< stats_users may not run it
    std::string_view help;
  };

  // show_misc.cpp
  awaitable<console_result> show_help(const admin_request&);
  awaitable<console_result> show_version(const admin_request&);
  awaitable<console_result> show_config(const admin_request&);
  awaitable<console_result> show_state(const admin_request&);
  awaitable<console_result> show_lists(const admin_request&);
  awaitable<console_result> show_dns_hosts(const admin_request&);
  awaitable<console_result> show_dns_zones(const admin_request&);
  awaitable<console_result> show_peers(const admin_request&);
  awaitable<console_result> show_peer_pools(const admin_request&);
  awaitable<console_result> show_listeners(const admin_request&);
  // show_pools.cpp
  awaitable<console_result> show_pools(const admin_request&);
  awaitable<console_result> show_databases(const admin_request&);
  awaitable<console_result> show_users(const admin_request&);
  // show_conns.cpp
  awaitable<console_result> show_clients(const admin_request&);
  awaitable<console_result> show_servers(const admin_request&);
  awaitable<console_result> show_sockets(const admin_request&);
  awaitable<console_result> show_active_sockets(const admin_request&);
  awaitable<console_result> show_fds(const admin_request&);
  awaitable<console_result> show_mem(const admin_request&);
  // show_stats.cpp
  awaitable<console_result> show_stats(const admin_request&);
  awaitable<console_result> show_stats_totals(const admin_request&);
  awaitable<console_result> show_stats_averages(const admin_request&);
  awaitable<console_result> show_totals(const admin_request&);
  // commands.cpp
  awaitable<console_result> cmd_reload(const admin_request&);
  awaitable<console_result> cmd_shutdown(const admin_request&);
  // process_commands.cpp
  awaitable<console_result> cmd_pause(const admin_request&);
  awaitable<console_result> cmd_resume(const admin_request&);
  awaitable<console_result> cmd_suspend(const admin_request&);
  awaitable<console_result> cmd_reconnect(const admin_request&);
  awaitable<console_result> cmd_kill(const admin_request&);
  awaitable<console_result> cmd_kill_client(const admin_request&);
  awaitable<console_result> cmd_disable(const admin_request&);
  awaitable<console_result> cmd_enable(const admin_request&);
  awaitable<console_result> cmd_wait_close(const admin_request&);
  awaitable<console_result> cmd_set(const admin_request&);

  control& ctl_;
  std::map<std::string, entry, std::less<>> shows_, commands_;
};

}  // namespace sluice
