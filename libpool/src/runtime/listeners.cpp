// Listeners: TCP and Unix sockets, and the accept loop that spreads clients over the shards.
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "net/socket_options.hpp"
#include "runtime/listener.hpp"
#include "runtime/runtime.hpp"
#include "session/session.hpp"
#include "sluice/log.hpp"

namespace sluice {

void runtime::apply_defer_accept(listener& l, const config& c) {
  if (l.is_unix) return;
  // Wake the acceptor only when the client has sent its first packet (45 s at most, as
  // pgbouncer); 0 turns it off again after a reload.
  const int secs = c.tcp_defer_accept ? 45 : 0;
  ::setsockopt(l.acc.native_handle(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs);
}

namespace {

/// The gid of unix_socket_group; throws if there is no such group.
gid_t socket_group(const std::string& name) {
  std::vector<char> buf(4096);
  group gr{};
  group* found = nullptr;
  int err = 0;
  while ((err = ::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found)) == ERANGE)
    buf.resize(buf.size() * 2);
  if (!found)
    throw std::runtime_error(
        err ? fmt::format("unix_socket_group {}: could not look up the group: {}", name,
                          std::strerror(err))
            : fmt::format("unix_socket_group {}: no such group", name));
  return found->gr_gid;
}

}  // namespace

void runtime::start_listeners() {
  const config& c = *cfg_;
  asio::io_context& io = shards_.at(0).io;
  auto open_tcp = [&](const asio::ip::tcp::endpoint& ep) {
    auto l = std::make_unique<listener>(io, false);
    const asio::generic::stream_protocol::endpoint gep(ep);
    l->acc.open(gep.protocol());
    l->acc.set_option(asio::socket_base::reuse_address(true));
    if (ep.address().is_v6()) l->acc.set_option(asio::ip::v6_only(true));
    error_code ec;
    // so_reuseport: other processes (another sluice, a pgbouncer with the same setting) may
    // listen on this port too, and the kernel spreads the connections over all of them.
    const int one = 1;
    if (c.so_reuseport &&
        ::setsockopt(l->acc.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
      ec = error_code(errno, asio::error::get_system_category());
    if (!ec) l->acc.bind(gep, ec);
    if (ec)
      throw std::runtime_error(fmt::format("could not bind {}:{}: {}", ep.address().to_string(),
                                           ep.port(), ec.message()));
    net::apply_tcp_buffers(l->acc.native_handle(), c);  // inherited by accepted sockets
    l->acc.listen(c.listen_backlog);
    apply_defer_accept(*l, c);
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
    const asio::generic::stream_protocol::endpoint gep{
        asio::local::stream_protocol::endpoint(path)};
    l->acc.open(gep.protocol());
    error_code ec;
    l->acc.bind(gep, ec);
    if (ec) throw std::runtime_error(fmt::format("could not bind {}: {}", path, ec.message()));
    ::chmod(path.c_str(), mode_t(c.unix_socket_mode));
    if (!c.unix_socket_group.empty()) {
      try {
        const gid_t gid = socket_group(c.unix_socket_group);
        if (::chown(path.c_str(), uid_t(-1), gid) != 0)
          throw std::runtime_error(
              fmt::format("unix_socket_group {}: could not change the group of {}: {}",
                          c.unix_socket_group, path, std::strerror(errno)));
      } catch (...) {
        ::unlink(path.c_str());  // not left for clients of the wrong group to find
        throw;
      }
    }
    l->acc.listen(c.listen_backlog);
    l->name = path;
    unix_paths_.push_back(path);
    listeners_.push_back(std::move(l));
  }
  if (listeners_.empty())
    throw std::runtime_error("nothing to listen on: set listen_addr or unix_socket_dir");
  for (auto& l : listeners_) log::info("listening on {}", l->name);
}

awaitable<void> runtime::accept_loop(listener& l) {
  // The loop runs on shard 0. A new connection is accepted as a bare descriptor and the
  // socket is built on the thread of the shard that serves it: a socket is registered with
  // a shard's reactor on that shard's thread only (its per-socket state has no lock).
  const asio::generic::stream_protocol proto = l.acc.local_endpoint().protocol();
  error_code ignored;
  l.acc.non_blocking(true, ignored);
  int failures = 0;  // accepts failed in a row (out of descriptors): logged once
  for (;;) {
    auto [ec] = co_await l.acc.async_wait(asio::socket_base::wait_read, nothrow);
    if (ec == asio::error::operation_aborted || !l.acc.is_open()) {
      co_return;
    }
    // Every connection already waiting, up to a bound, for one wait.
    for (int taken = 0; !ec && taken < 64; ++taken) {
      sockaddr_storage peer{};  // the client's address comes with the accept (no getpeername)
      socklen_t peer_len = sizeof peer;
      const int fd = ::accept4(l.acc.native_handle(), reinterpret_cast<sockaddr*>(&peer),
                               &peer_len, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        ec = error_code(errno, asio::error::get_system_category());
        break;
      }
      shard& target = shards_.at(rr_.fetch_add(1) % shards_.size());
      target.post_fn([this, fd, proto, peer, is_unix = l.is_unix](shard& t) {
        error_code aec;
        stream_socket sock(t.io);
        sock.assign(proto, fd, aec);
        if (aec) {
          log::warning("could not take a new connection: {}", aec.message());
          ::close(fd);
          return;
        }
        start_client(registry_, t, std::move(sock), is_unix, peer);
      });
    }
    if (ec) {
      // pgbouncer's line, once per run of failures rather than at every retry.
      if (failures++ == 0)
        log::error("accept() failed: {} (on {}; retried every 100 ms)", ec.message(), l.name);
      // Out of descriptors: back off instead of spinning on the same error.
      asio::steady_timer pause(shards_.at(0).io, std::chrono::milliseconds(100));
      co_await pause.async_wait(nothrow);
    } else if (failures > 0) {
      log::info("accepting again on {} after {} failed attempt(s)", l.name, failures);
      failures = 0;
    }
  }
}

}  // namespace sluice
