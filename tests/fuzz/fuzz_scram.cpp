// Feeds arbitrary bytes to both sides of the SCRAM-SHA-256 exchange. The input is split at the
// first '\n': the part before is the first peer message, the part after the final one.
//   scram_server: client-first, then client-final
//   scram_client: server-first, then server-final
// Nonces and the secret are fixed so the fuzzer can reach the second step (the nonce checks)
// and the proof/signature checks; the corpus seeds are the RFC 7677 exchange.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pgwire/auth.hpp"

namespace {

// Password "pencil", RFC 7677 salt, 4096 iterations. The server never runs PBKDF2, so the
// iteration count costs nothing here.
constexpr std::string_view secret_text =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
constexpr std::string_view server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view client_nonce = "rOprNGfwEbeRWgbNEkqO";

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const pgwire::scram_secret secret = *pgwire::parse_scram_secret(secret_text);
  static const pgwire::scram_keys keys = [] {
    // The pass-through keys of the same secret; recovered the way sluice recovers them.
    pgwire::scram_server srv(secret, std::string(server_nonce));
    auto cli = pgwire::scram_client::with_password("pencil", std::string(client_nonce));
    std::string to_server = cli.client_first(), to_client;
    srv.resume_raw(to_server, to_client);
    cli.resume_raw(to_client, to_server);
    srv.resume_raw(to_server, to_client);
    return *srv.keys();
  }();

  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto nl = in.find('\n');
  const std::string_view first = in.substr(0, nl);
  const std::string_view second =
      nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  using kind = pgwire::auth_step::kind;

  {
    pgwire::scram_server srv(secret, std::string(server_nonce));
    std::string reply;
    const auto a = srv.resume_raw(first, reply);
    if (a.what == kind::send_and_wait) {
      const auto b = srv.resume_raw(second, reply);
      // Keys exist exactly when the proof verified.
      check((b.what == kind::done) == srv.keys().has_value());
      check(b.what != kind::send_and_wait);
    } else {
      check(a.what == kind::failed && a.error != pgwire::errc::ok && reply.empty());
    }
  }
  {
    // Pass-through keys rather than a password: the fuzzer would otherwise find "i=9999999"
    // and spend seconds in PBKDF2 per input. The parsing is the same for both.
    auto cli = pgwire::scram_client::with_keys(keys, std::string(client_nonce));
    check(!cli.client_first().empty());
    std::string reply;
    const auto a = cli.resume_raw(first, reply);
    if (a.what == kind::send_and_wait) {
      check(reply.starts_with("c=biws,r="));
      const auto b = cli.resume_raw(second, reply);
      check(b.what != kind::send_and_wait);
    } else {
      check(a.what == kind::failed && a.error != pgwire::errc::ok);
    }
  }
  // The secret parser and the strict base64 decoder see the same bytes.
  if (const auto s = pgwire::parse_scram_secret(in)) check(pgwire::format_scram_secret(*s) == in);
  if (const auto d = pgwire::base64_decode(first)) check(pgwire::base64_encode(*d) == first);
  return 0;
}
