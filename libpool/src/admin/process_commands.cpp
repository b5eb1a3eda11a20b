// The console's process controlling commands: PAUSE, RESUME, SUSPEND (refused), RECONNECT,
// KILL, KILL_CLIENT, DISABLE, ENABLE, WAIT_CLOSE, and SET. Each checks its arguments, logs as
// pgbouncer does, and calls the control API (control/commands.cpp), which does the work.
#include <fmt/format.h>


#include "admin/admin.hpp"
#include "admin/statement.hpp"
#include "sluice/log.hpp"

namespace sluice {

namespace {

console_result invalid(const admin_request& req) {
  std::string sql = req.verb;
  if (!req.arg.empty()) {
    sql.push_back(' ');
    sql.append(req.arg);
  }
  return console_result::failure("08P01", fmt::format("invalid command '{}', use SHOW HELP;", sql));
}

/// pgbouncer logs each error it sends to the console.
console_result failed(std::string message) {
  log::error("{}", message);
  return console_result::failure("08P01", std::move(message));
}

console_result tag(std::string t) {
  console_result r;
  r.tag = std::move(t);
  return r;
}

void log_issued(std::string_view cmd, std::string_view db) {
  if (db.empty())
    log::info("{} command issued", cmd);
  else
    log::info("{} '{}' command issued", cmd, db);
}

/// The configuration snapshot the command acts on: that of the shard the console runs on.
const config& cfg_of(const admin_request& req) {
  return *control::config_of(req.home);
}

/// Parameters drivers set on connect: accepted and ignored, as pgbouncer does.
constexpr std::string_view kFakeParams[] = {"client_encoding", "default_transaction_isolation",
                                            "standard_conforming_strings", "datestyle",
                                            "timezone"};

}  // namespace

awaitable<console_result> admin_console::cmd_pause(const admin_request& req) {
  std::string db;
  if (!parse_one_arg(req.arg, db)) co_return invalid(req);
  log_issued("PAUSE", db);
  const command_result r = ctl_.begin_pause(cfg_of(req), db);
  if (!r.ok()) co_return failed(r.error);
  // As pgbouncer: the answer comes once every server of those databases has been released.
  co_await ctl_.wait_paused(db, req.home.io);
  co_return tag("PAUSE");
}

awaitable<console_result> admin_console::cmd_resume(const admin_request& req) {
  std::string db;
  if (!parse_one_arg(req.arg, db)) co_return invalid(req);
  log_issued("RESUME", db);
  if (db.empty() && ctl_.state().shutting_down) co_return failed("pooler is shutting down");
  const command_result r = ctl_.resume(cfg_of(req), db);
  if (!r.ok()) co_return failed(r.error);
  co_return tag("RESUME");
}

awaitable<console_result> admin_console::cmd_suspend(const admin_request& req) {
  if (!req.arg.empty()) co_return invalid(req);
  // pgbouncer's SUSPEND stops reading every socket so that an online restart (-R) can take
  // them over; sluice's -R takes no sockets over, so it refuses SUSPEND rather than half-do it.
  co_return console_result::failure("0A000",
                                    "SUSPEND is not supported: sluice's -R takes no sockets over");
}

awaitable<console_result> admin_console::cmd_reconnect(const admin_request& req) {
  std::string db;
  if (!parse_one_arg(req.arg, db)) co_return invalid(req);
  log_issued("RECONNECT", db);
  const command_result r = ctl_.reconnect(cfg_of(req), db);
  if (!r.ok()) co_return failed(r.error);
  co_return tag("RECONNECT");
}

awaitable<console_result> admin_console::cmd_kill(const admin_request& req) {
  std::string db;
  if (!parse_one_arg(req.arg, db)) co_return invalid(req);
  if (ctl_.state().paused) co_return failed("already suspended/paused");
  log_issued("KILL", db);
  const command_result r = ctl_.kill(cfg_of(req), db);
  if (!r.ok()) co_return failed(r.error);
  co_return tag("KILL");
}

awaitable<console_result> admin_console::cmd_kill_client(const admin_request& req) {
  unsigned long long id = 0;
  if (!parse_client_id(req.arg, id)) co_return failed("invalid client pointer supplied");
  const bool found = co_await ctl_.kill_client(id, req.home.io);
  if (!found) co_return failed("client not found");
  co_return tag("KILL_CLIENT");
}

awaitable<console_result> admin_console::cmd_disable(const admin_request& req) {
  std::string db;
  if (!parse_one_arg(req.arg, db)) co_return invalid(req);
  if (db.empty()) co_return failed("a database is required");
  log_issued("DISABLE", db);
  const command_result r = ctl_.disable(cfg_of(req), db);
  if (!r.ok()) co_return failed(r.error);
  co_return tag("DISABLE");
}

awaitable<console_result> admin_console::cmd_enable(const admin_request& req) {
  std::string db;
  if (!parse_one_arg(req.arg, db)) co_return invalid(req);
  if (db.empty()) co_return failed("a database is required");
  log_issued("ENABLE", db);
  const command_result r = ctl_.enable(cfg_of(req), db);
  if (!r.ok()) co_return failed(r.error);
  co_return tag("ENABLE");
}

awaitable<console_result> admin_console::cmd_wait_close(const admin_request& req) {
  std::string db;
  if (!parse_one_arg(req.arg, db)) co_return invalid(req);
  log_issued("WAIT_CLOSE", db);
  const command_result r = ctl_.check_wait_close(cfg_of(req), db);
  if (!r.ok()) co_return failed(r.error);
  co_await ctl_.wait_closed(db, req.home.io);
  co_return tag("WAIT_CLOSE");
}

awaitable<console_result> admin_console::cmd_set(const admin_request& req) {
  std::string key, value;
  switch (parse_set_args(req.arg, key, value)) {
    case set_syntax::not_set: co_return invalid(req);
    case set_syntax::bad_value: co_return failed("bad arguments");
    case set_syntax::ok: break;
  }
  for (std::string_view fake : kFakeParams) {
    if (key != fake) continue;
    console_result r = tag("SET");
    r.notices.emplace_back("SET ignored");
    co_return r;
  }
  if (!req.who.admin) co_return failed("admin access needed");
  const set_result r = ctl_.set(key, value);
  if (!r.error.empty()) {
    log::error("SET {} = {}: {}", key, value, r.error);
    co_return failed("SET failed");
  }
  console_result out = tag(fmt::format("SET {}={}", key, value));
  if (!r.notice.empty()) out.notices.push_back(r.notice);
  co_return out;
}

}  // namespace sluice
