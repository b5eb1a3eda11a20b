#pragma once
// The relay's reads of a server: one recv per answer, as a level-triggered poller's.
//
// Boost 1.81's epoll reactor registers every socket once, edge-triggered, and keeps a flag
// per socket that says "data may be there": set by every readiness event, cleared only when
// an operation reports that it drained the socket. Its own reads report that at end of file
// only, so every async_read_some first tries a recv; the read the relay starts right after
// sending a query fails with EAGAIN (the answer cannot be there yet), and the answer costs
// a second recv when it comes. The read here reports a short read (fewer bytes than asked
// for) that ends with ReadyForQuery as draining the socket: the server has said all it had
// to say and waits for the next query, so the next read waits for the readiness event of
// the next answer without trying first. Any event meanwhile sets the flag again and the
// next read starts with a recv, as before.
//
// Why only after ReadyForQuery: a short read does not show an end of file that arrived
// with the data (the kernel delivers the data first, and edge-triggered epoll reports both
// as one event). A server that closes sends ErrorResponse first (then the read does not end
// with ReadyForQuery) or dies silently; after ReadyForQuery nothing more is expected before
// sluice writes the next query, and a write to a closed peer is answered with a reset,
// which is a new event. Client sockets keep Asio's own wait for the same reason: a client
// may send a message that gets no answer and close.
//
// Built on asio::detail (reactor_op, epoll_reactor::start_op) of the Boost version checked
// below; with other versions or reactors this is plain async_read_some.

#include <boost/version.hpp>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <sys/socket.h>

#include "shard/block_allocator.hpp"
#include "shard/io.hpp"

#if BOOST_VERSION == 108100 && defined(BOOST_ASIO_HAS_EPOLL) && \
    !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#define SLUICE_REPLY_READ 1
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#else
#define SLUICE_REPLY_READ 0
#endif

namespace sluice {

/// True if bytes [p, p + n) end with a complete ReadyForQuery message.
inline bool ends_with_ready(const std::uint8_t* p, std::size_t n) {
  if (n < 6) return false;
  const std::uint8_t* z = p + n - 6;
  return z[0] == 'Z' && z[1] == 0 && z[2] == 0 && z[3] == 0 && z[4] == 5 &&
         (z[5] == 'I' || z[5] == 'T' || z[5] == 'E');
}

/// One per io_context (shard): starts the relay's server reads.
class reply_reader {
 public:
  explicit reply_reader(asio::io_context& io);

  template <class Owner>
  using callback = void (*)(std::shared_ptr<Owner>, error_code, std::size_t);

  /// Reads at most len bytes into buf; fn(owner, ec, n) runs later on the io_context's
  /// thread (never inline), as async_read_some's handler would. One read per socket at a time.
  /// plaintext = false (TLS records): the bytes say nothing of where an answer ends, so the
  /// read never reports the socket drained.
  template <class Owner>
  void start(stream_socket& sock, void* buf, std::size_t len, std::shared_ptr<Owner> owner,
             callback<Owner> fn, bool plaintext = true);

 private:
#if SLUICE_REPLY_READ
  asio::detail::reactor* reactor_;
#endif
};

#if SLUICE_REPLY_READ
namespace reply_detail {

template <class Owner>
struct read_op final : asio::detail::reactor_op {
  read_op(int f, void* b, std::size_t l, std::shared_ptr<Owner> o, reply_reader::callback<Owner> cb,
          bool p)
      : reactor_op(error_code(), &do_perform, &do_complete),
        fd(f), buf(b), len(l), plaintext(p), owner(std::move(o)), fn(cb) {}
  int fd;
  void* buf;
  std::size_t len;
  bool plaintext;
  std::shared_ptr<Owner> owner;
  reply_reader::callback<Owner> fn;

  static status do_perform(reactor_op* base) {
    auto* o = static_cast<read_op*>(base);
    ssize_t r;
    do r = ::recv(o->fd, o->buf, o->len, MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    if (r > 0) {
      o->bytes_transferred_ = std::size_t(r);
      const bool drained = o->plaintext && o->bytes_transferred_ < o->len &&
                           ends_with_ready(static_cast<const std::uint8_t*>(o->buf), o->bytes_transferred_);
      return drained ? done_and_exhausted : done;
    }
    if (r == 0) {
      o->ec_ = asio::error::eof;
      return done_and_exhausted;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;
    o->ec_ = error_code(errno, asio::error::get_system_category());
    return done;
  }

  /// Frees the operation, then runs its callback (not when the io_context is being destroyed).
  static void do_complete(void* owner_ctx, asio::detail::operation* base, const error_code&,
                          std::size_t) {
    auto* o = static_cast<read_op*>(base);
    std::shared_ptr<Owner> who = std::move(o->owner);
    const auto cb = o->fn;
    const error_code ec = o->ec_;
    const std::size_t n = o->bytes_transferred_;
    o->~read_op();
    pooled_allocator<read_op>{}.deallocate(o, 1);
    if (owner_ctx) cb(std::move(who), ec, n);
  }
};

}  // namespace reply_detail

inline reply_reader::reply_reader(asio::io_context& io)
    : reactor_(&asio::use_service<asio::detail::reactor>(io)) {}

template <class Owner>
void reply_reader::start(stream_socket& sock, void* buf, std::size_t len,
                         std::shared_ptr<Owner> owner, callback<Owner> fn, bool plaintext) {
  using op_t = reply_detail::read_op<Owner>;
  auto& impl = sock.implementation();
  pooled_allocator<op_t> a;
  op_t* o = new (a.allocate(1)) op_t(impl.socket_, buf, len, std::move(owner), fn, plaintext);
  reactor_->start_op(asio::detail::reactor::read_op, impl.socket_, impl.reactor_data_, o,
                     /*is_continuation=*/true, /*allow_speculative=*/true);
}

#else  // plain Asio

inline reply_reader::reply_reader(asio::io_context&) {}

template <class Owner>
void reply_reader::start(stream_socket& sock, void* buf, std::size_t len,
                         std::shared_ptr<Owner> owner, callback<Owner> fn, bool) {
  sock.async_read_some(asio::buffer(buf, len),
                       [o = std::move(owner), fn](error_code ec, std::size_t n) mutable {
                         fn(std::move(o), ec, n);
                       });
}

#endif

}  // namespace sluice
