// The runtime: shards and their threads, the janitor, shutdown. Listeners: listeners.cpp.
#include "runtime/runtime.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include "config/settings.hpp"
#include "http/router.hpp"
#include "runtime/notify.hpp"
#include "runtime/listener.hpp"
#include "session/session.hpp"
#include "sluice/log.hpp"

namespace sluice {

namespace {

/// The cores this process may run on (taskset, cpuset, systemd's CPUAffinity=), at least 1.
int usable_cores() {
  cpu_set_t set;
  if (::sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return int(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

runtime::runtime(config_ptr cfg, std::shared_ptr<const userlist> users)
    : cfg_(std::move(cfg)), users_(std::move(users)) {
  int n = cfg_->workers;
  if (n <= 0) {
    const int cores = usable_cores();
    n = default_workers(*cfg_, cores);
    log::info("workers = 0: {} shard(s) for {} usable core(s){}", n, cores,
              n < cores ? ", shared with PostgreSQL on this host" : "");
  }
  for (int i = 0; i < n; ++i)
    shards_.shards.push_back(std::make_unique<shard>(shards_, i, cfg_, users_));
  shards_.console = &console_;
  registry_.peers().configure(*cfg_);
}

runtime::~runtime() {
  // The HTTP thread reads the pools through the control API: it stops first.
  if (http_) http_->stop();
  // Pools hold idle servers whose sockets belong to shard io_contexts: drop them first.
  registry_.clear();
  listeners_.clear();
}

std::unique_ptr<pooler> make_pooler(config_ptr cfg, std::shared_ptr<const userlist> users) {
  return std::make_unique<runtime>(std::move(cfg), std::move(users));
}

awaitable<void> runtime::janitor_loop(shard& s) {
  for (;;) {
    s.janitor.expires_after(std::chrono::seconds(1));
    auto [ec] = co_await s.janitor.async_wait(nothrow);
    if (ec || stopping_done_.load()) {
      co_return;
    }
    // min_pool_size of forced-user entries holds before any client comes: their pools are
    // made here (shard 0), and its top-up below fills them.
    if (s.id == 0) registry_.ensure_forced_pools(s.cfg(), s.users());
    for (const auto& p : registry_.all()) p->tidy(s);
    // Dropping unused pools needs every shard's view of them: one shard does it for all.
    if (s.id == 0) registry_.reap(s.cfg());
    if (s.id == 0) control_.stats().tick(s.cfg());
    for (client_link* l = s.clients.next; l != &s.clients; l = l->next)
      client_check_timeouts(l, s.cfg());
  }
}

// ---------------------------------------------------------------------------- lifecycle

std::shared_ptr<const std::string> runtime::token_of(const config& cfg) {
  if (cfg.http_auth_token_file.empty()) return nullptr;
  return std::make_shared<const std::string>(http::load_token(cfg.http_auth_token_file));
}

void runtime::set_current(config_ptr cfg) {
  std::lock_guard lk(snapshot_mu_);
  cfg_ = std::move(cfg);
}

void runtime::start() {
  token_ = token_of(*cfg_);
  start_listeners();
  listening_.store(true);
  if (cfg_->http_listen_port > 0) {
    http::server_hooks hooks{
        [this] { return current_config(); },
        [this] {
          std::lock_guard lk(snapshot_mu_);
          return token_;
        },
        [this] { return listening_.load(); },
        [this] { return shutting_down(); }};
    // Before the shard threads: if the port cannot be had, nothing is running yet. A request
    // that comes before they run only waits for them.
    http_ = std::make_unique<http::server>(control_, std::move(hooks));
    http_->start(cfg_->http_listen_addr, cfg_->http_listen_port);
  }
  for (auto& l : listeners_) asio::co_spawn(shards_.at(0).io, accept_loop(*l), asio::detached);
  for (auto& sp : shards_.shards) {
    shard& s = *sp;
    asio::co_spawn(s.io, janitor_loop(s), asio::detached);
    s.thread = std::thread([&s] {
      auto guard = asio::make_work_guard(s.io);
      s.io.run();
    });
  }
  log::info("process up: sluice {}, {} shard(s)", SLUICE_VERSION, shards_.size());
  notify_service_manager("READY=1");
}

namespace {
/// prepare_tls, with pgbouncer's "TLS setup failed" line when it fails (then rethrown).
void prepare_tls_logged(config& c) {
  try {
    prepare_tls(c);
  } catch (const config_error& e) {
    log::error("TLS setup failed: {}", e.what());
    throw;
  }
}
}  // namespace

reload_result runtime::reload_files() {
  std::lock_guard lk(reload_mu_);
  // systemd (Type=notify) is told, whatever the outcome.
  notify_reloading();
  struct ready_again {
    ~ready_again() { notify_service_manager("READY=1"); }
  } ready;
  reload_result r;
  std::shared_ptr<config> next;
  std::shared_ptr<userlist> users;
  std::shared_ptr<const std::string> token;
  try {
    next = std::make_shared<config>(load_config(cfg_->file));
    prepare_tls_logged(*next);  // new certificates for new connections; existing ones keep theirs
    users = std::make_shared<userlist>(next->auth_file.empty() ? userlist{}
                                                               : load_userlist(next->auth_file));
    token = token_of(*next);
  } catch (const config_error& e) {
    r.errors = e.all();
  } catch (const std::exception& e) {
    r.errors.emplace_back(e.what());
  }
  if (!r.errors.empty()) {
    for (const auto& one : r.errors) log::error("reload failed, keeping the old config: {}", one);
    return r;
  }
  config_diff d = diff_configs(*cfg_, *next);
  for (const auto& name : d.needs_restart)
    log::warning("reload: {} changed, which takes effect only after a restart", name);
  // The facility was checked on load: set_syslog cannot refuse it.
  log::set_syslog(next->syslog, next->syslog_ident, next->syslog_facility);
  reload(next, users);
  log::info("reload: {}", d.changes.empty() ? std::string("no settings changed")
                                            : fmt::format("{}", fmt::join(d.changes, "; ")));
  set_current(std::move(next));
  users_ = std::move(users);
  {
    std::lock_guard lk(snapshot_mu_);
    token_ = std::move(token);
  }
  r.ok = true;
  r.changes = std::move(d.changes);
  r.needs_restart = std::move(d.needs_restart);
  return r;
}

set_result runtime::set_setting(std::string_view key, std::string_view value) {
  using namespace config_detail;
  const setting* row = find_setting(section::pgbouncer, key);
  if (!row) return {fmt::format("unknown parameter: {}", key), {}};
  if (!row->reloadable) return {fmt::format("{} cannot be changed at run time", key), {}};
  std::lock_guard lk(reload_mu_);
  auto next = std::make_shared<config>(*cfg_);
  const std::string origin = "SET";
  try {
    apply(*row, *next, value_ctx{key, value, origin, 0});
  } catch (const config_error& e) {
    return {e.what(), {}};
  }
  set_result r;
  try {
    prepare_tls_logged(*next);
  } catch (const config_error&) {
    // As pgbouncer: a TLS file or mode is set one key at a time (a new key before its
    // certificate), so the value is taken and the contexts in use stay until the set is whole.
    log::warning("SET {} = {}: taken, but TLS keeps its old configuration until the TLS "
                 "settings work together", key, value);
    next->client_tls = cfg_->client_tls;
    next->server_tls = cfg_->server_tls;
    r.notice = "TLS settings could not be applied, still using old configuration";
  }
  const config_diff d = diff_configs(*cfg_, *next);
  reload(next, users_);
  log::info("SET: {}", d.changes.empty() ? std::string("no settings changed")
                                         : fmt::format("{}", fmt::join(d.changes, "; ")));
  set_current(std::move(next));
  return r;
}

pause_state runtime::pause() {
  if (shards_.paused.load()) return pause_state::paused;
  std::lock_guard lk(reload_mu_);
  const command_result r = control_.begin_pause(*cfg_, {});
  if (!r.ok()) return pause_state::paused;
  return pause_state::running;
}

pause_state runtime::resume() {
  const pause_state before = shards_.paused.load() ? pause_state::paused : pause_state::running;
  if (before == pause_state::running) return before;
  std::lock_guard lk(reload_mu_);
  control_.resume(*cfg_, {});
  return before;
}

void runtime::reload(config_ptr cfg, std::shared_ptr<const userlist> users) {
  log::set_verbose(cfg->verbose);
  // Listener options that apply to new connections (the listeners stay: no restart needed).
  for (auto& l : listeners_) apply_defer_accept(*l, *cfg);
  // Each shard reads its own snapshot on its own thread: the swap is mailed to it.
  for (auto& sp : shards_.shards) {
    sp->post_fn([cfg, users](shard& s) { s.set_config(cfg, users); });
  }
  registry_.reconfigure(cfg, users);
}

void runtime::shutdown(shutdown_mode mode) {
  const int previous = shutdown_mode_.exchange(int(mode));
  if (previous < 0) notify_service_manager("STOPPING=1");
  if (mode == shutdown_mode::immediate || previous >= 0) {
    if (previous >= 0 && mode != shutdown_mode::immediate)
      log::info("second shutdown request, exiting now");
    stop_all();
    return;
  }
  listening_.store(false);
  shards_.shutting_down.store(true);
  if (mode == shutdown_mode::wait_for_servers) {
    // pgbouncer's WAIT_FOR_SERVERS pauses: queued clients, and those that start a new
    // transaction from now on, are closed; transactions under way finish.
    shards_.refuse_new_links.store(true);
    for (auto& p : registry_.all()) p->fail_waiters({"08P01", "server shutting down"});
  }
  log::info("shutdown requested ({}), no new connections accepted",
            mode == shutdown_mode::wait_for_servers ? "WAIT_FOR_SERVERS" : "WAIT_FOR_CLIENTS");
  asio::post(shards_.at(0).io, [this] {
    // The TCP listeners close; the Unix socket stays open for the console until the exit.
    for (auto& l : listeners_) {
      if (l->is_unix) continue;
      error_code ignored;
      l->acc.close(ignored);
    }
    shutdown_timer_ = std::make_unique<asio::steady_timer>(shards_.at(0).io);
    shutdown_poll();
  });
}

void runtime::shutdown_poll() {
  bool done;
  if (shutdown_mode_.load() == int(shutdown_mode::wait_for_clients)) {
    done = shards_.client_count.load() == 0;
  } else {
    done = registry_.active_total() == 0;
  }
  if (done) {
    log::info("{} connections dropped, exiting",
              shutdown_mode_.load() == int(shutdown_mode::wait_for_clients) ? "client" : "server");
    stop_all();
    return;
  }
  shutdown_timer_->expires_after(std::chrono::milliseconds(50));
  shutdown_timer_->async_wait([this](error_code ec) {
    if (!ec) shutdown_poll();
  });
}

void runtime::stop_all() {
  stopping_done_.store(true);
  for (auto& s : shards_.shards) s->io.stop();
}

void runtime::wait() {
  for (auto& s : shards_.shards)
    if (s->thread.joinable()) s->thread.join();
  // The HTTP endpoint answers (readyz: shutting down) until the shards have stopped.
  if (http_) http_->stop();
  for (const auto& p : unix_paths_) ::unlink(p.c_str());
}

}  // namespace sluice
