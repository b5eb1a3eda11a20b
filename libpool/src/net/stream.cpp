#include "net/stream.hpp"

#include <sys/socket.h>

#include <cerrno>

#include <boost/asio/write.hpp>
#include <vector>

namespace sluice::net {

error_code tls_failed() { return make_error_code(boost::system::errc::protocol_error); }

namespace {

/// Sends what the socket takes now, without waiting (an interrupted send is retried): how much
/// went. ec is set on an error other than a full socket.
std::size_t send_direct(stream_socket& s, std::span<const std::uint8_t> in, error_code& ec) {
  std::size_t done = 0;
  while (done < in.size()) {
    const ssize_t n = ::send(s.native_handle(), in.data() + done, in.size() - done,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      done += std::size_t(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        ec = error_code(errno, asio::error::get_system_category());
      break;
    }
  }
  return done;
}

/// Sends what the socket takes now, the rest (if any) asynchronously. The login's and the
/// console's messages are small and nearly always go at once: then the coroutine goes on
/// without a completion posted to the scheduler (each costs it a zero-timeout epoll_wait).
awaitable<error_code> send_all(stream_socket& s, std::span<const std::uint8_t> in) {
  error_code ec;
  in = in.subspan(send_direct(s, in, ec));
  if (ec || in.empty()) co_return ec;
  auto [wec, n] = co_await asio::async_write(s, asio::buffer(in.data(), in.size()), nothrow);
  co_return wec;
}

/// Writes what the engine has produced.
awaitable<error_code> flush(stream_socket& s, tls_engine& tls) {
  std::vector<std::uint8_t> out;
  tls.take_output(out);
  const error_code ec = co_await send_all(s, out);
  co_return ec;
}

/// Reads what the socket has (into raw, sized on first use) and feeds it to the engine.
awaitable<error_code> fill(stream_socket& s, tls_engine& tls, std::vector<std::uint8_t>& raw) {
  if (raw.empty()) raw.resize(tls_read_size);
  auto [ec, m] = co_await s.async_read_some(asio::buffer(raw), nothrow);
  if (!ec) tls.feed({raw.data(), m});
  co_return ec;
}

}  // namespace

awaitable<std::pair<error_code, std::size_t>> read_some(stream_socket& s, tls_engine* tls,
                                                        std::span<std::uint8_t> out) {
  if (!tls) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(out.data(), out.size()), nothrow);
    co_return std::pair{ec, n};
  }
  std::vector<std::uint8_t> raw;
  for (;;) {
    std::size_t n = 0;
    const tls_engine::status st = tls->read(out, n);
    if (n > 0) {
      co_return std::pair{error_code{}, n};
    }
    if (st == tls_engine::status::closed) {
      co_return std::pair{error_code(asio::error::eof), std::size_t{0}};
    }
    if (st == tls_engine::status::error) {
      co_return std::pair{tls_failed(), std::size_t{0}};
    }
    const error_code ec = co_await fill(s, *tls, raw);
    if (ec) {
      co_return std::pair{ec, std::size_t{0}};
    }
  }
}

awaitable<error_code> write_all(stream_socket& s, tls_engine* tls,
                                std::span<const std::uint8_t> in) {
  if (!tls) {
    const error_code ec = co_await send_all(s, in);
    co_return ec;
  }
  if (tls->write(in) != tls_engine::status::ok) {
    co_return tls_failed();
  }
  const error_code ec = co_await flush(s, *tls);
  co_return ec;
}

awaitable<error_code> handshake(stream_socket& s, tls_engine& tls) {
  std::vector<std::uint8_t> raw;
  for (;;) {
    const tls_engine::status st = tls.handshake();
    const error_code wec = co_await flush(s, tls);
    if (st == tls_engine::status::ok) {
      co_return wec;
    }
    if (st != tls_engine::status::want_read) {
      co_return tls_failed();
    }
    if (wec) {
      co_return wec;
    }
    const error_code ec = co_await fill(s, tls, raw);
    if (ec) {
      co_return ec;
    }
  }
}

sent send_now(stream_socket& s, tls_engine* tls, std::span<const std::uint8_t> in) {
  std::vector<std::uint8_t> enc;
  if (tls) {
    if (!tls->handshake_done()) return sent::none;  // nothing can be said in the middle of it
    if (tls->write(in) != tls_engine::status::ok) return sent::none;
    tls->take_output(enc);
    in = enc;
  }
  error_code ec;
  const std::size_t n = send_direct(s, in, ec);
  if (n == in.size()) return sent::all;
  return n > 0 ? sent::part : sent::none;
}

std::size_t read_now(stream_socket& s, tls_engine* tls, std::span<std::uint8_t> out,
                     std::vector<std::uint8_t>& raw, error_code& ec) {
  if (!tls) return s.read_some(asio::buffer(out.data(), out.size()), ec);
  if (raw.size() < tls_read_size) raw.resize(tls_read_size);
  error_code rec;
  std::size_t n = s.read_some(asio::buffer(raw), rec);
  // A close that comes after whole records still in the engine is seen once they are read.
  if (rec && rec != asio::error::would_block && !(rec == asio::error::eof && tls->buffered())) {
    ec = rec;
    return 0;
  }
  if (rec) n = 0;
  if (!decrypt(*tls, raw.data(), n, out, ec)) ec = asio::error::would_block;
  return n;
}

bool decrypt(tls_engine& tls, const std::uint8_t* raw, std::size_t& n,
             std::span<std::uint8_t> out, error_code& ec) {
  if (n > 0) tls.feed({raw, n});
  const tls_engine::status st = tls.read(out, n);
  if (n > 0) return true;
  if (st == tls_engine::status::want_read) return false;
  ec = st == tls_engine::status::closed ? error_code(asio::error::eof) : tls_failed();
  return true;
}

bool write_now(stream_socket& s, tls_engine* tls, const std::uint8_t* data, std::size_t len,
               std::span<const std::uint8_t>& rest, error_code& ec) {
  std::span<const std::uint8_t> bytes(data, len);
  std::vector<std::uint8_t>* out = nullptr;  // for TLS: the engine's output, written from there
  if (tls) {
    if (tls->write(bytes) != tls_engine::status::ok) {
      ec = tls_failed();
      return false;
    }
    out = &tls->pending_output();
    bytes = *out;
  }
  std::size_t done = bytes.empty() ? 0 : s.write_some(asio::buffer(bytes.data(), bytes.size()), ec);
  if (ec == asio::error::would_block) {
    ec = {};
    done = 0;
  }
  if (ec) return false;
  if (done == bytes.size()) {
    if (tls) tls->output_written();
    return true;
  }
  if (!out) {
    rest = bytes.subspan(done);
    return false;
  }
  out->erase(out->begin(), out->begin() + std::ptrdiff_t(done));
  rest = *out;
  return false;
}

}  // namespace sluice::net
