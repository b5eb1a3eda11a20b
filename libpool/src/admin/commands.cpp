// The console's commands that act: RELOAD, SHUTDOWN, ...
#include <fmt/format.h>

#include "admin/admin.hpp"
#include "sluice/log.hpp"

namespace sluice {

awaitable<console_result> admin_console::cmd_reload(const admin_request& req) {
  log::info("RELOAD command issued by {}", req.who.name);
  const reload_result r = ctl_.reload();
  if (!r.ok) {
    co_return console_result::failure(
        "F0000", fmt::format("RELOAD failed, see logs for additional details ({})",
                             fmt::join(r.errors, "; ")));
  }
  console_result out;
  out.tag = "RELOAD";
  co_return out;
}

awaitable<console_result> admin_console::cmd_shutdown(const admin_request& req) {
  std::string mode;
  for (char ch : req.arg) mode.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
  shutdown_mode m;
  if (mode.empty())
    m = shutdown_mode::immediate;
  else if (mode == "WAIT_FOR_SERVERS")
    m = shutdown_mode::wait_for_servers;
  else if (mode == "WAIT_FOR_CLIENTS")
    m = shutdown_mode::wait_for_clients;
  else
    co_return console_result::failure("08P01", "SHUTDOWN takes WAIT_FOR_SERVERS or WAIT_FOR_CLIENTS");
  log::info("SHUTDOWN{} command issued by {}", mode.empty() ? "" : " " + mode, req.who.name);
  ctl_.shutdown(m);
  console_result out;
  out.tag = "SHUTDOWN";
  co_return out;
}

}  // namespace sluice
