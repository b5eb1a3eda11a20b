// The relay's reads (shard/relay_read.hpp): when a read may say the peer has nothing more
// to send, and that a client's end of file after an unanswered message is still seen.
#include "catch.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "shard/relay_read.hpp"

using sluice::ends_with_answered;
using sluice::ends_with_ready;

namespace {

std::string msg(char tag, const std::string& body) {
  const std::uint32_t len = std::uint32_t(body.size() + 4);
  std::string m(1, tag);
  for (int shift = 24; shift >= 0; shift -= 8) m.push_back(char((len >> shift) & 0xff));
  return m + body;
}

bool answered(const std::string& s) {
  return ends_with_answered(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

struct result {
  sluice::error_code ec;
  std::size_t n = 0;
  std::string bytes;
};

struct reader_owner {
  std::optional<result>* out;
  pgwire::byte_buffer* scratch;
  sluice::relay_reader* reader;
  sluice::relay_reader& relay_reads() { return *reader; }
};

void record(std::shared_ptr<reader_owner> o, sluice::error_code ec, std::size_t n) {
  *o->out = result{ec, n, std::string(reinterpret_cast<const char*>(o->scratch->data()), n)};
}

}  // namespace

TEST_CASE("relay reads: a client read ends what the client has to say only after Query, Sync or FunctionCall") {
  const std::string parse = msg('P', std::string("\0SELECT 1\0\0\0", 12));
  const std::string bind = msg('B', std::string(14, '\0'));
  const std::string execute = msg('E', std::string(5, '\0'));
  const std::string sync = msg('S', "");
  CHECK(answered(msg('Q', std::string("SELECT 1\0", 9))));
  CHECK(answered(parse + bind + execute + sync));
  CHECK(answered(msg('F', std::string(10, '\0'))));
  CHECK_FALSE(answered(parse + bind + execute));        // no Sync: nothing answers yet
  CHECK_FALSE(answered(msg('d', "copy data")));         // COPY data gets no answer
  CHECK_FALSE(answered(msg('H', "")));                  // Flush may have nothing to flush
  CHECK_FALSE(answered(sync.substr(0, 3)));             // not a whole header
  CHECK_FALSE(answered(parse + sync.substr(0, 4)));     // the Sync is not whole
  CHECK_FALSE(answered((parse + bind).substr(0, 20)));  // a message cut short
  CHECK_FALSE(answered(std::string("S\0\0\0\3", 5)));   // a length under 4
  CHECK_FALSE(answered(""));
}

TEST_CASE("relay reads: a server read ends with ReadyForQuery") {
  const std::string rfq = msg('Z', "I");
  CHECK(ends_with_ready(reinterpret_cast<const std::uint8_t*>(rfq.data()), rfq.size()));
  const std::string bad = msg('Z', "X");
  CHECK_FALSE(ends_with_ready(reinterpret_cast<const std::uint8_t*>(bad.data()), bad.size()));
}

namespace {

struct fixture {
  sluice::asio::io_context io{1};
  pgwire::byte_buffer scratch = pgwire::byte_buffer(64 * 1024);
  sluice::relay_reader reader{io, scratch};
  sluice::stream_socket sock{io};
  int peer = -1;
  std::optional<result> got;

  fixture() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    sock.assign(sluice::asio::generic::stream_protocol(AF_UNIX, SOCK_STREAM), fds[0]);
    sock.non_blocking(true);
    peer = fds[1];
  }
  ~fixture() {
    if (peer >= 0) ::close(peer);
  }
  void send(const std::string& s) { REQUIRE(::write(peer, s.data(), s.size()) == ssize_t(s.size())); }

  /// Starts a client read, then runs `then` (the peer's side), then runs the context until
  /// the read completes or `limit` passes. Sending from `then` makes the read wait for the
  /// readiness event instead of finding the bytes already there.
  bool read(bool at_boundary, const std::function<void()>& then = {},
            std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    got.reset();
    auto owner = std::make_shared<reader_owner>(reader_owner{&got, &scratch, &reader});
    reader.start_client<&record>(sock, owner, at_boundary);
    if (then) then();
    io.restart();
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!got && std::chrono::steady_clock::now() < until) io.run_one_until(until);
    return got.has_value();
  }
};

}  // namespace

TEST_CASE("relay reads: an idle client's pending read is as small as Asio's own wait") {
#if SLUICE_RELAY_READ
  // A reactor operation (72 bytes in Boost 1.81), the owner, the descriptor and the flags:
  // what every idle client keeps. Asio's async_wait with the session's handler is 96.
  CHECK(sizeof(sluice::relay_detail::read_op<reader_owner, &record, nullptr>) <=
        sizeof(boost::asio::detail::reactor_op) + 32);
#else
  SUCCEED("plain Asio reads");
#endif
}

TEST_CASE("relay reads: the bytes of a client read are in scratch when its callback runs") {
  fixture f;
  const std::string q = msg('Q', std::string("SELECT 1\0", 9));
  REQUIRE(f.read(true, [&] { f.send(q); }));
  CHECK_FALSE(f.got->ec);
  CHECK(f.got->bytes == q);
  // The read said the client was done: the next read waits for the next query's event.
  REQUIRE(f.read(true, [&] { f.send(q + q); }));
  CHECK(f.got->bytes == q + q);
}

TEST_CASE("relay reads: an end of file right after a message nothing answers is seen") {
  fixture f;
  const std::string copy = msg('d', "1\t2\n");
  // Data and end of file arrive together, in one readiness event the first read consumes.
  REQUIRE(f.read(true, [&] {
    f.send(copy);
    ::shutdown(f.peer, SHUT_WR);
  }));
  CHECK(f.got->bytes == copy);
  REQUIRE(f.read(true));  // no new event comes: this read must try the socket first
  CHECK(f.got->ec == sluice::asio::error::eof);
}

TEST_CASE("relay reads: a read that starts inside a message never says the client is done") {
  fixture f;
  const std::string tail = msg('S', "");  // looks answered, but continues an earlier message
  REQUIRE(f.read(false, [&] {
    f.send(tail);
    ::shutdown(f.peer, SHUT_WR);
  }));
  CHECK(f.got->bytes == tail);
  REQUIRE(f.read(false));
  CHECK(f.got->ec == sluice::asio::error::eof);
}

TEST_CASE("login reads: whole packets, typed or not, end what the client has to say") {
  auto whole = [](const std::string& s, bool typed) {
    return sluice::whole_packets(reinterpret_cast<const std::uint8_t*>(s.data()), s.size(), typed);
  };
  const std::string ssl_request("\0\0\0\x08\x04\xd2\x16\x2f", 8);
  std::string startup("\0\0\0\x0d\0\3\0\0x\0y\0\0", 13);
  CHECK(whole(ssl_request, false));
  CHECK(whole(startup, false));
  CHECK_FALSE(whole(startup.substr(0, 12), false));
  CHECK_FALSE(whole(std::string("\0\0\0\3", 4), false));  // a length under 4
  const std::string password = msg('p', std::string("secret\0", 7));
  CHECK(whole(password, true));
  CHECK(whole(password + msg('Q', std::string("SELECT 1\0", 9)), true));
  CHECK_FALSE(whole(password.substr(0, 6), true));
  CHECK_FALSE(whole(password, false));  // typed bytes framed as untyped are not whole
  CHECK_FALSE(whole("", true));  // nothing read is not a packet
}

namespace {

/// A login read through relay_reader::async_read, run to completion.
bool login_read(fixture& f, std::string& bytes, sluice::error_code& ec, sluice::drain_rule rule,
                const std::function<void()>& then = {}) {
  std::optional<std::size_t> n;
  std::array<char, 1024> buf{};
  f.reader.async_read(f.sock, buf.data(), buf.size(), rule,
                      [&](sluice::error_code e, std::size_t m) {
                        ec = e;
                        n = m;
                      });
  if (then) then();
  f.io.restart();
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!n && std::chrono::steady_clock::now() < until) f.io.run_one_until(until);
  if (n) bytes.assign(buf.data(), *n);
  return n.has_value();
}

}  // namespace

TEST_CASE("login reads: the next packet after a drained read comes with its event") {
  fixture f;
  const std::string startup("\0\0\0\x0d\0\3\0\0x\0y\0\0", 13);
  const std::string password = msg('p', std::string("secret\0", 7));
  std::string got;
  sluice::error_code ec;
  REQUIRE(login_read(f, got, ec, sluice::drain_rule::login_untyped, [&] { f.send(startup); }));
  CHECK((!ec && got == startup));
  REQUIRE(login_read(f, got, ec, sluice::drain_rule::login_typed, [&] { f.send(password); }));
  CHECK((!ec && got == password));
}

TEST_CASE("login reads: a packet cut short says nothing, and an end of file with it is seen") {
  fixture f;
  const std::string startup("\0\0\0\x0d\0\3\0\0x\0y\0\0", 13);
  std::string got;
  sluice::error_code ec;
  REQUIRE(login_read(f, got, ec, sluice::drain_rule::login_untyped, [&] {
    f.send(startup.substr(0, 7));
    ::shutdown(f.peer, SHUT_WR);
  }));
  CHECK(got == startup.substr(0, 7));
  // The read did not claim the socket drained: this one tries it and finds the end of file.
  REQUIRE(login_read(f, got, ec, sluice::drain_rule::never));
  CHECK(ec == sluice::asio::error::eof);
}
