#pragma once
// The Asio vocabulary every part of libpool uses, and the coroutine rules of this code base.
//
// Coroutine rules (GCC 12.2, Debian 12):
// - never co_await inside an if/while condition: GCC 12.2 miscompiles `if (co_await f())` and
//   the coroutine then reads garbage (seen here: a segfault in the next resumed frame). Bind
//   the result to a local first, then test it;
// - a co_await/co_return in the body of if/else/for/while sits inside braces (GCC bug 106188);
// - coroutines take what they use as parameters, never as lambda captures.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

namespace sluice {

namespace asio = boost::asio;
using boost::system::error_code;
// Sockets bound to io_context's own executor: smaller than with any_io_executor, and so is
// every operation pending on them (an idle client keeps one).
using basic_stream_socket =
    asio::basic_stream_socket<asio::generic::stream_protocol, asio::io_context::executor_type>;
/// The sockets of clients and servers: Asio's, plus access to the reactor's per-socket state
/// for the relay's reads (shard/relay_read.hpp).
class stream_socket : public basic_stream_socket {
 public:
  using basic_stream_socket::basic_stream_socket;
  stream_socket(basic_stream_socket&& s) noexcept : basic_stream_socket(std::move(s)) {}
  stream_socket(stream_socket&&) noexcept = default;
  stream_socket& operator=(stream_socket&&) noexcept = default;
  /// The service's implementation of this socket: its descriptor and reactor state.
  auto& implementation() noexcept { return impl_.get_implementation(); }
};
using clock = std::chrono::steady_clock;
template <class T>
using awaitable = asio::awaitable<T>;
inline constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

/// Seconds from t until now (timeouts, ages in log lines).
inline double seconds_since(clock::time_point t) {
  return std::chrono::duration<double>(clock::now() - t).count();
}

}  // namespace sluice
