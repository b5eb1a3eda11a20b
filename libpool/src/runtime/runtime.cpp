// The runtime: shards and their threads, listeners, pool registry, cancel keys, shutdown.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>

#include <stdexcept>

#include "shard/shard.hpp"
#include "pgwire/crypto.hpp"
#include "sluice/log.hpp"

namespace sluice {

struct runtime::listener {
  listener(asio::io_context& io, bool unix_socket) : acc(io), is_unix(unix_socket) {}
  asio::basic_socket_acceptor<asio::generic::stream_protocol> acc;
  bool is_unix;
  std::string name;
};

runtime::runtime(config_ptr cfg, std::shared_ptr<const userlist> users)
    : cfg_(std::move(cfg)), users_(std::move(users)) {
  int n = cfg_->workers;
  if (n <= 0) n = int(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 0; i < n; ++i) {
    shards_.push_back(std::make_unique<shard>(*this, i));
    shards_.back()->buffer_size = std::size_t(std::max(cfg_->pkt_buf, 512));
  }
}

runtime::~runtime() {
  // Pools hold idle servers whose sockets belong to shard io_contexts: drop them first.
  pools_.clear();
  listeners_.clear();
}

std::unique_ptr<pooler> make_pooler(config_ptr cfg, std::shared_ptr<const userlist> users) {
  return std::make_unique<runtime>(std::move(cfg), std::move(users));
}

pool* runtime::get_pool(const database_config& db, const std::string& dbname,
                        const std::string& user, bool& created) {
  const config& c = cfg();
  pool_target t;
  t.host = db.host;
  t.port = db.port;
  t.dbname = db.dbname.empty() ? dbname : db.dbname;
  t.user = db.user.empty() ? user : db.user;
  t.password = db.password;
  if (t.password.empty()) {
    // From the userlist: plaintext or an md5 hash can log in directly; a SCRAM secret needs
    // the client's keys (pass-through), which the pool learns when a client logs in.
    if (const std::string* stored = users().find(t.user);
        stored && pgwire::classify_password(*stored) != pgwire::password_kind::scram)
      t.password = *stored;
  }
  if (!db.client_encoding.empty()) t.startup_params.emplace_back("client_encoding", db.client_encoding);
  if (!db.datestyle.empty()) t.startup_params.emplace_back("datestyle", db.datestyle);
  if (!db.timezone.empty()) t.startup_params.emplace_back("timezone", db.timezone);
  if (!db.application_name.empty()) t.startup_params.emplace_back("application_name", db.application_name);
  t.connect_query = db.connect_query;

  std::lock_guard lk(pools_mu_);
  auto key = std::make_pair(dbname, t.user);
  auto it = pools_.find(key);
  created = it == pools_.end();
  if (!created) return it->second.get();
  std::string pool_user = t.user;
  auto p = std::make_unique<pool>(*this, dbname, std::move(pool_user), std::move(t), db.mode.value_or(c.mode),
                                  db.pool_size.value_or(c.default_pool_size),
                                  db.min_pool_size.value_or(c.min_pool_size),
                                  db.reserve_pool_size.value_or(c.reserve_pool_size), shards_.size());
  p->max_db_connections = db.max_db_connections.value_or(c.max_db_connections);
  pool* raw = p.get();
  pools_.emplace(std::move(key), std::move(p));
  return raw;
}

// ---------------------------------------------------------------------------- cancel keys

void runtime::new_cancel_key(std::uint32_t& pid, std::uint32_t& secret) {
  std::uint32_t k[2];
  if (!pgwire::random_bytes({reinterpret_cast<std::uint8_t*>(k), sizeof k}))
    throw std::runtime_error("no randomness for cancel keys");
  pid = k[0];
  secret = k[1];
}

void runtime::route_cancel(std::uint32_t pid, std::uint32_t secret) {
  // Unknown keys are dropped silently, as PostgreSQL does.
  for (auto& sh : shards_) {
    sh->post_fn([pid, secret](shard& s) {
      for (client_link* l = s.clients.next; l != &s.clients; l = l->next) {
        if (client_cancel_if(l, s, pid, secret)) return;
      }
    });
  }
}

// ---------------------------------------------------------------------------- listeners

void runtime::start_listeners() {
  const config& c = cfg();
  asio::io_context& io = shards_[0]->io;
  auto open_tcp = [&](const asio::ip::tcp::endpoint& ep) {
    auto l = std::make_unique<listener>(io, false);
    const asio::generic::stream_protocol::endpoint gep(ep);
    l->acc.open(gep.protocol());
    l->acc.set_option(asio::socket_base::reuse_address(true));
    if (ep.address().is_v6()) l->acc.set_option(asio::ip::v6_only(true));
    error_code ec;
    l->acc.bind(gep, ec);
    if (ec) throw std::runtime_error(fmt::format("could not bind {}:{}: {}", ep.address().to_string(), ep.port(), ec.message()));
    apply_tcp_buffers(l->acc.native_handle(), c);  // inherited by accepted sockets
    l->acc.listen(c.listen_backlog);
    if (c.tcp_defer_accept) {
      // Wake the acceptor only when the client has sent its first packet.
      const int secs = 45;
      ::setsockopt(l->acc.native_handle(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs);
    }
    l->name = fmt::format("{}:{}", ep.address().to_string(), ep.port());
    listeners_.push_back(std::move(l));
  };
  for (const auto& a : c.listen_addr) {
    if (a == "*") {
      open_tcp({asio::ip::address_v4::any(), std::uint16_t(c.listen_port)});
      try {
        open_tcp({asio::ip::address_v6::any(), std::uint16_t(c.listen_port)});
      } catch (const std::exception& e) {
        log::warning("IPv6 listener not available: {}", e.what());
      }
      continue;
    }
    error_code ec;
    const auto addr = asio::ip::make_address(a, ec);
    if (!ec) {
      open_tcp({addr, std::uint16_t(c.listen_port)});
      continue;
    }
    asio::ip::tcp::resolver r(io);
    for (const auto& e : r.resolve(a, std::to_string(c.listen_port))) open_tcp(e.endpoint());
  }
  if (!c.unix_socket_dir.empty()) {
    const std::string path = fmt::format("{}/.s.PGSQL.{}", c.unix_socket_dir, c.listen_port);
    // A socket file left by a crashed process is removed only if nothing answers on it.
    {
      asio::local::stream_protocol::socket probe(io);
      error_code ec;
      probe.connect(asio::local::stream_protocol::endpoint(path), ec);
      if (!ec) throw std::runtime_error(fmt::format("unix socket {} is in use", path));
      ::unlink(path.c_str());
    }
    auto l = std::make_unique<listener>(io, true);
    const asio::generic::stream_protocol::endpoint gep{asio::local::stream_protocol::endpoint(path)};
    l->acc.open(gep.protocol());
    error_code ec;
    l->acc.bind(gep, ec);
    if (ec) throw std::runtime_error(fmt::format("could not bind {}: {}", path, ec.message()));
    ::chmod(path.c_str(), mode_t(c.unix_socket_mode));
    l->acc.listen(c.listen_backlog);
    l->name = path;
    unix_paths_.push_back(path);
    listeners_.push_back(std::move(l));
  }
  if (listeners_.empty()) throw std::runtime_error("nothing to listen on: set listen_addr or unix_socket_dir");
  for (auto& l : listeners_) log::info("listening on {}", l->name);
}

awaitable<void> runtime::accept_loop(listener& l) {
  for (;;) {
    shard& target = *shards_[rr_.fetch_add(1) % shards_.size()];
    auto [ec, sock] = co_await l.acc.async_accept(target.io, nothrow);
    if (stopping.load()) {
      co_return;
    }
    if (ec) {
      if (ec == asio::error::operation_aborted) {
        co_return;
      }
      log::warning("accept failed on {}: {}", l.name, ec.message());
      // Out of descriptors: back off instead of spinning on the same error.
      asio::steady_timer pause(shards_[0]->io, std::chrono::milliseconds(100));
      co_await pause.async_wait(nothrow);
      continue;
    }
    auto accepted = std::make_shared<stream_socket>(std::move(sock));
    target.post_fn([this, accepted, is_unix = l.is_unix](shard& t) {
      start_client(*this, t, std::move(*accepted), is_unix);
    });
  }
}

awaitable<void> runtime::janitor_loop(shard& s) {
  for (;;) {
    s.janitor.expires_after(std::chrono::seconds(1));
    auto [ec] = co_await s.janitor.async_wait(nothrow);
    if (ec || stopping_done_.load()) {
      co_return;
    }
    janitor_tick(s);
    for (client_link* l = s.clients.next; l != &s.clients; l = l->next) client_check_timeouts(l, cfg());
  }
}

// ---------------------------------------------------------------------------- lifecycle

void runtime::start() {
  start_listeners();
  for (auto& l : listeners_) asio::co_spawn(shards_[0]->io, accept_loop(*l), asio::detached);
  for (auto& sp : shards_) {
    shard& s = *sp;
    asio::co_spawn(s.io, janitor_loop(s), asio::detached);
    s.thread = std::thread([&s] {
      auto guard = asio::make_work_guard(s.io);
      s.io.run();
    });
  }
  log::info("process up: sluice {}, {} shard(s)", SLUICE_VERSION, shards_.size());
}

void runtime::shutdown(shutdown_mode mode) {
  const int previous = shutdown_mode_.exchange(int(mode));
  if (mode == shutdown_mode::immediate || previous >= 0) {
    if (previous >= 0 && mode != shutdown_mode::immediate) log::info("second shutdown request, exiting now");
    stop_all();
    return;
  }
  stopping.store(true);
  if (mode == shutdown_mode::wait_for_servers) refuse_new_links.store(true);
  log::info("shutdown requested ({}), no new connections accepted",
            mode == shutdown_mode::wait_for_servers ? "WAIT_FOR_SERVERS" : "WAIT_FOR_CLIENTS");
  asio::post(shards_[0]->io, [this] {
    for (auto& l : listeners_) {
      error_code ignored;
      l->acc.close(ignored);
    }
    shutdown_timer_ = std::make_unique<asio::steady_timer>(shards_[0]->io);
    shutdown_poll();
  });
}

void runtime::shutdown_poll() {
  bool done;
  if (shutdown_mode_.load() == int(shutdown_mode::wait_for_clients)) {
    done = client_count.load() == 0;
  } else {
    int active = 0;
    std::lock_guard lk(pools_mu_);
    for (auto& [k, p] : pools_) active += p->active_total();
    done = active == 0;
  }
  if (done) {
    log::info("shutdown complete");
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
  for (auto& s : shards_) s->io.stop();
}

void runtime::wait() {
  for (auto& s : shards_)
    if (s->thread.joinable()) s->thread.join();
  for (const auto& p : unix_paths_) ::unlink(p.c_str());
}

}  // namespace sluice
