#pragma once
// The relay's reads: one recv per message batch, as a level-triggered poller's, and no
// epoll_ctl per wait.
//
// Boost 1.81's epoll reactor registers every socket once, edge-triggered, and keeps a flag
// per socket that says "data may be there": set by every readiness event, cleared only when
// an operation reports that it drained the socket. Its own reads report that at end of file
// only, so every async_read_some first tries a recv, and the read started right after a
// query is sent fails with EAGAIN; its async_wait re-arms the socket with EPOLL_CTL_MOD on
// every call. The reads here report a short read (fewer bytes than asked for) as draining
// the socket when nothing more can come before sluice writes again, so the next read waits
// for the next readiness event without a recv first and without an epoll_ctl:
//
// - a server read that ends with ReadyForQuery: the server has answered all it was sent;
// - a client read that is a whole number of messages, starting at a message boundary and
//   ending with one the server answers (Query, Sync, FunctionCall): the client waits for
//   that answer;
// - a login's read of whole packets (async_read, for the login coroutine): the client waits
//   for the answer to each. The login's writes go out without a trip through the scheduler
//   (net/stream.cpp), so a login costs one recv per packet and one epoll_wait per answer.
//
// Why only then: a short read does not show an end of file that arrived with the data (the
// kernel delivers the data first, and edge-triggered epoll reports both as one event). After
// the cases above nothing more is expected from the peer before sluice writes to it, and a
// write to a peer that has closed is answered with a reset, which is a new event. A client
// that sends a message nothing answers (COPY data, a pipeline without Sync) and closes is
// seen by the recv that starts its next read, as with Asio's own reads. What stays unseen is
// a client that half-closes (shutdown(SHUT_WR)) right after a query and closes only after
// reading its answer, without a reset: no PostgreSQL driver does that; TCP keepalive and
// client_idle_timeout end such a client.
//
// A client read holds no buffer while it waits (an idle client costs no read buffer): the
// recv lands in a buffer the shard lends for it, which becomes the shard's scratch buffer
// when the read completes (the old scratch goes back to the lender).
//
// Built on asio::detail (reactor_op, epoll_reactor::start_op) of the Boost version checked
// below; with other versions or reactors these are plain async_read_some and async_wait.

#include <boost/version.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <sys/socket.h>
#include <type_traits>
#include <utility>
#include <vector>

#include "pgwire/writer.hpp"
#include "shard/block_allocator.hpp"
#include "shard/io.hpp"

#if BOOST_VERSION == 108100 && defined(BOOST_ASIO_HAS_EPOLL) && \
    !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#define SLUICE_RELAY_READ 1
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#else
#define SLUICE_RELAY_READ 0
#endif

namespace sluice {

/// True if bytes [p, p + n) end with a complete ReadyForQuery message.
inline bool ends_with_ready(const std::uint8_t* p, std::size_t n) {
  if (n < 6) return false;
  const std::uint8_t* z = p + n - 6;
  return z[0] == 'Z' && z[1] == 0 && z[2] == 0 && z[3] == 0 && z[4] == 5 &&
         (z[5] == 'I' || z[5] == 'T' || z[5] == 'E');
}

/// Walks bytes [p, p + n), read from a packet boundary, as packets: typed (a type byte, then
/// the length: head = 5) or untyped (the length first, as SSLRequest and StartupMessage:
/// head = 4). Returns where the last packet starts, or n when the bytes are not whole packets
/// (one is cut short or has a length under 4) or there are none.
inline std::size_t last_whole_packet(const std::uint8_t* p, std::size_t n, std::size_t head) {
  std::size_t i = 0, last = n;
  while (n - i >= head) {
    const std::uint8_t* l = p + i + head - 4;
    const std::uint32_t len = std::uint32_t(l[0]) << 24 | std::uint32_t(l[1]) << 16 |
                              std::uint32_t(l[2]) << 8 | l[3];
    if (len < 4 || len > n - i - (head - 4)) return n;
    last = i;
    i += head - 4 + std::size_t(len);
  }
  return i == n ? last : n;
}

/// True if bytes [p, p + n), read from a message boundary, are whole frontend messages of
/// which the last is one the server answers with ReadyForQuery (Query, Sync, FunctionCall).
inline bool ends_with_answered(const std::uint8_t* p, std::size_t n) {
  const std::size_t last = last_whole_packet(p, n, 5);
  return last < n && (p[last] == 'Q' || p[last] == 'S' || p[last] == 'F');
}

/// True if bytes [p, p + n), read from a packet boundary, are whole packets: typed messages
/// or, before a login has begun, untyped ones.
inline bool whole_packets(const std::uint8_t* p, std::size_t n, bool typed) {
  return last_whole_packet(p, n, typed ? 5 : 4) < n;
}

/// What a read may report as the end of what its peer has to say.
enum class drain_rule : std::uint8_t {
  never,          ///< TLS records: the bytes say nothing of where messages end
  server_answer,  ///< ends_with_ready
  client_request, ///< ends_with_answered, if the read starts at a message boundary
  /// A login's packets (whole_packets from a boundary): during a login the client waits for
  /// sluice's answer to each one (SSLRequest, StartupMessage, a password message).
  login_untyped,
  login_typed
};

/// Whether a short read of n bytes at p, under `rule`, leaves nothing more to come before
/// sluice writes to the peer.
inline bool drained_by(drain_rule rule, const std::uint8_t* p, std::size_t n) {
  switch (rule) {
    case drain_rule::server_answer: return ends_with_ready(p, n);
    case drain_rule::client_request: return ends_with_answered(p, n);
    case drain_rule::login_untyped: return whole_packets(p, n, false);
    case drain_rule::login_typed: return whole_packets(p, n, true);
    case drain_rule::never: break;
  }
  return false;
}

/// One per io_context (shard): starts the relay's reads of servers and of plaintext clients.
class relay_reader {
 public:
  /// `scratch`: the shard's scratch buffer, which client reads replace with their own.
  relay_reader(asio::io_context& io, pgwire::byte_buffer& scratch);

  /// Reads at most len bytes into buf; Done(owner, ec, n) runs later on the io_context's
  /// thread (never inline), as async_read_some's handler would. One read per socket at a time.
  template <auto Done, class Owner>
  void start(stream_socket& sock, void* buf, std::size_t len, std::shared_ptr<Owner> owner,
             drain_rule rule);

  /// Reads what a client sent, into a buffer that becomes the scratch buffer before
  /// Done(owner, ec, n) runs (the bytes are scratch[0, n)). at_boundary: nothing of a message
  /// is pending from earlier reads. Owner::relay_reads() names this reader. One read per
  /// socket at a time. The pending operation is what an idle client holds: it is as small as
  /// Asio's own wait (a reactor operation, the owner and the descriptor).
  template <auto Done, class Owner>
  void start_client(stream_socket& sock, std::shared_ptr<Owner> owner, bool at_boundary);

  /// Watches a socket that is not being read (a client queued for a server): Done(owner, ec,
  /// n) runs once it is readable, with n = 1 if bytes wait to be read (they stay there) or
  /// ec = eof (or the error) if it was closed. Any socket, TLS or not. A watch that is no
  /// longer wanted (Wanted(owner) false; it cannot be taken back) ends at the next event
  /// without touching the socket, with n = 0.
  template <auto Done, auto Wanted, class Owner>
  void watch(stream_socket& sock, std::shared_ptr<Owner> owner);

  /// async_read_some for a coroutine (or any completion token), with a drain rule: reads at
  /// most len bytes into buf and completes with (error_code, bytes).
  template <class Token>
  auto async_read(stream_socket& sock, void* buf, std::size_t len, drain_rule rule,
                  Token&& token);

  // For the read operations: the buffers client reads borrow, owned here.
  pgwire::byte_buffer* lend() {
    if (spare_.empty()) {
      lent_.push_back(std::make_unique<pgwire::byte_buffer>(scratch_.size()));
      return lent_.back().get();
    }
    pgwire::byte_buffer* b = spare_.back();
    spare_.pop_back();
    return b;
  }
  void give_back(pgwire::byte_buffer* b) { spare_.push_back(b); }
  /// A completed client read's buffer becomes scratch; the old scratch is kept for the next.
  void adopt(pgwire::byte_buffer* b) {
    scratch_.swap(*b);
    give_back(b);
  }

 private:
  pgwire::byte_buffer& scratch_;
  std::vector<std::unique_ptr<pgwire::byte_buffer>> lent_;  ///< every buffer ever lent
  std::vector<pgwire::byte_buffer*> spare_;                 ///< those no client read holds
#if SLUICE_RELAY_READ
  asio::detail::reactor* reactor_;
#endif
};

#if SLUICE_RELAY_READ
namespace relay_detail {

enum class read_kind : std::uint8_t { into_buffer, lent_buffer, watch };

/// The one recv of a reactor operation: records its bytes or its error in `o` and says whether
/// it is done, and done with the socket drained (a read shorter than `size` that `rule` says
/// leaves the peer waiting for an answer), so that the reactor waits for the next event.
inline asio::detail::reactor_op::status recv_step(asio::detail::reactor_op& o, int fd,
                                                  std::uint8_t* p, std::size_t size, int flags,
                                                  drain_rule rule) {
  using op = asio::detail::reactor_op;
  ssize_t r;
  do r = ::recv(fd, p, size, flags | MSG_DONTWAIT);
  while (r < 0 && errno == EINTR);
  if (r > 0) {
    o.bytes_transferred_ = std::size_t(r);
    return std::size_t(r) < size && drained_by(rule, p, std::size_t(r)) ? op::done_and_exhausted
                                                                         : op::done;
  }
  if (r == 0) {
    o.ec_ = asio::error::eof;
    return op::done_and_exhausted;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK) return op::not_done;
  o.ec_ = error_code(errno, asio::error::get_system_category());
  return op::done;
}

/// One read (or watch) of a socket. Done (and Wanted, for a watch) are compile-time, and the
/// buffer of a client read is lent only once bytes are there, so that the operation an idle
/// client keeps pending holds nothing but its owner and its descriptor.
template <class Owner, auto Done, auto Wanted>
struct read_op final : asio::detail::reactor_op {
  read_op(int f, read_kind k, void* b, std::size_t l, std::shared_ptr<Owner> o, drain_rule d)
      : reactor_op(error_code(), &do_perform, &do_complete),
        owner(std::move(o)), buf(b), fd(f), len(std::uint32_t(std::min(l, max_len))), kind_(unsigned(k)),
        rule_(unsigned(d)) {}
  std::shared_ptr<Owner> owner;
  void* buf;  ///< into_buffer: the caller's; lent_buffer: the pgwire::byte_buffer lent, or null
  int fd;
  /// A read takes at most this much at once (a larger pkt_buf is read in parts).
  static constexpr std::size_t max_len = (std::size_t(1) << 27) - 1;
  std::uint32_t len : 27;  ///< into_buffer: the caller's buffer's size (pkt_buf, a TLS read)
  std::uint32_t kind_ : 2;
  std::uint32_t rule_ : 3;
  read_kind kind() const { return read_kind(kind_); }

  static status do_perform(reactor_op* base) {
    auto* o = static_cast<read_op*>(base);
    std::uint8_t* p;
    std::size_t size;
    int flags = 0;
    thread_local std::uint8_t peeked;
    switch (o->kind()) {
      case read_kind::watch:
        if constexpr (Wanted != nullptr) {
          if (!Wanted(*o->owner)) return done;
        }
        p = &peeked;
        size = 1;
        flags |= MSG_PEEK;
        break;
      case read_kind::lent_buffer: {
        if (!o->buf) o->buf = o->owner->relay_reads().lend();
        auto* b = static_cast<pgwire::byte_buffer*>(o->buf);
        p = b->data();
        size = b->size();
        break;
      }
      default:
        p = static_cast<std::uint8_t*>(o->buf);
        size = o->len;
        break;
    }
    const status st = recv_step(*o, o->fd, p, size, flags, drain_rule(o->rule_));
    if (st == not_done && o->kind() == read_kind::lent_buffer) {  // nothing came: it goes back
      o->owner->relay_reads().give_back(static_cast<pgwire::byte_buffer*>(o->buf));
      o->buf = nullptr;
    }
    return st;
  }

  /// Frees the operation, then runs its callback (not when the io_context is being destroyed).
  static void do_complete(void* owner_ctx, asio::detail::operation* base, const error_code&,
                          std::size_t) {
    auto* o = static_cast<read_op*>(base);
    std::shared_ptr<Owner> who = std::move(o->owner);
    const error_code ec = o->ec_;
    const std::size_t n = o->bytes_transferred_;
    auto* lent = o->kind() == read_kind::lent_buffer ? static_cast<pgwire::byte_buffer*>(o->buf)
                                                   : nullptr;
    o->~read_op();
    pooled_allocator<read_op>{}.deallocate(o, 1);
    if (!owner_ctx) return;  // the io_context is going: the reader keeps its buffers
    if (lent) who->relay_reads().adopt(lent);
    Done(std::move(who), ec, n);
  }
};

/// A read whose completion is a handler (a coroutine's, for one): as asio's own read, but with
/// a drain rule. The handler runs on the io_context's thread, from the scheduler.
template <class Handler>
struct handler_read_op final : asio::detail::reactor_op {
  handler_read_op(int f, void* b, std::size_t l, drain_rule d, Handler h)
      : reactor_op(error_code(), &do_perform, &do_complete), handler(std::move(h)), buf(b),
        len(l), fd(f), rule(d) {}
  Handler handler;
  void* buf;
  std::size_t len;
  int fd;
  drain_rule rule;

  static status do_perform(reactor_op* base) {
    auto* o = static_cast<handler_read_op*>(base);
    return recv_step(*o, o->fd, static_cast<std::uint8_t*>(o->buf), o->len, 0, o->rule);
  }

  static void do_complete(void* owner_ctx, asio::detail::operation* base, const error_code&,
                          std::size_t) {
    auto* o = static_cast<handler_read_op*>(base);
    Handler h = std::move(o->handler);
    const error_code ec = o->ec_;
    const std::size_t n = o->bytes_transferred_;
    delete o;
    if (owner_ctx) std::move(h)(ec, n);  // else the io_context is being destroyed
  }
};

template <class Owner, auto Done, auto Wanted>
void start_op(asio::detail::reactor& reactor, stream_socket& sock, read_kind kind, void* buf,
              std::size_t len, std::shared_ptr<Owner> owner, drain_rule rule) {
  using op_t = read_op<Owner, Done, Wanted>;
  auto& impl = sock.implementation();
  op_t* o = new (pooled_allocator<op_t>{}.allocate(1))
      op_t(impl.socket_, kind, buf, len, std::move(owner), rule);
  reactor.start_op(asio::detail::reactor::read_op, impl.socket_, impl.reactor_data_, o,
                   /*is_continuation=*/kind != read_kind::watch, /*allow_speculative=*/true);
}

}  // namespace relay_detail

inline relay_reader::relay_reader(asio::io_context& io, pgwire::byte_buffer& scratch)
    : scratch_(scratch), reactor_(&asio::use_service<asio::detail::reactor>(io)) {}

template <auto Done, class Owner>
void relay_reader::start(stream_socket& sock, void* buf, std::size_t len,
                         std::shared_ptr<Owner> owner, drain_rule rule) {
  relay_detail::start_op<Owner, Done, nullptr>(*reactor_, sock, relay_detail::read_kind::into_buffer,
                                               buf, len, std::move(owner), rule);
}

template <auto Done, class Owner>
void relay_reader::start_client(stream_socket& sock, std::shared_ptr<Owner> owner,
                                bool at_boundary) {
  relay_detail::start_op<Owner, Done, nullptr>(
      *reactor_, sock, relay_detail::read_kind::lent_buffer, nullptr, 0, std::move(owner),
      at_boundary ? drain_rule::client_request : drain_rule::never);
}

template <auto Done, auto Wanted, class Owner>
void relay_reader::watch(stream_socket& sock, std::shared_ptr<Owner> owner) {
  relay_detail::start_op<Owner, Done, Wanted>(*reactor_, sock, relay_detail::read_kind::watch,
                                              nullptr, 1, std::move(owner), drain_rule::never);
}

template <class Token>
auto relay_reader::async_read(stream_socket& sock, void* buf, std::size_t len, drain_rule rule,
                              Token&& token) {
  return asio::async_initiate<Token, void(error_code, std::size_t)>(
      [this, &sock, buf, len, rule](auto handler) {
        using op_t = relay_detail::handler_read_op<std::decay_t<decltype(handler)>>;
        auto& impl = sock.implementation();
        auto* o = new op_t(impl.socket_, buf, len, rule, std::move(handler));
        reactor_->start_op(asio::detail::reactor::read_op, impl.socket_, impl.reactor_data_, o,
                           /*is_continuation=*/false, /*allow_speculative=*/true);
      },
      token);
}

#else  // plain Asio

inline relay_reader::relay_reader(asio::io_context&, pgwire::byte_buffer& scratch)
    : scratch_(scratch) {}

template <auto Done, class Owner>
void relay_reader::start(stream_socket& sock, void* buf, std::size_t len,
                         std::shared_ptr<Owner> owner, drain_rule) {
  sock.async_read_some(asio::buffer(buf, len),
                       [o = std::move(owner)](error_code ec, std::size_t n) mutable {
                         Done(std::move(o), ec, n);
                       });
}

template <auto Done, class Owner>
void relay_reader::start_client(stream_socket& sock, std::shared_ptr<Owner> owner, bool) {
  pgwire::byte_buffer* b = lend();
  sock.async_read_some(asio::buffer(b->data(), b->size()),
                       [this, b, o = std::move(owner)](error_code ec, std::size_t n) mutable {
                         adopt(b);
                         Done(std::move(o), ec, n);
                       });
}

template <auto Done, auto Wanted, class Owner>
void relay_reader::watch(stream_socket& sock, std::shared_ptr<Owner> owner) {
  sock.async_wait(asio::socket_base::wait_read,
                  [&sock, o = std::move(owner)](error_code ec) mutable {
                    char b;
                    ssize_t r = -1;
                    if (!ec) r = ::recv(sock.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
                    if (!ec && r == 0) ec = asio::error::eof;
                    if (!ec && r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                      ec = error_code(errno, asio::error::get_system_category());
                    Done(std::move(o), ec, r > 0 ? 1 : 0);
                  });
}

template <class Token>
auto relay_reader::async_read(stream_socket& sock, void* buf, std::size_t len, drain_rule,
                              Token&& token) {
  return sock.async_read_some(asio::buffer(buf, len), std::forward<Token>(token));
}

#endif

}  // namespace sluice
