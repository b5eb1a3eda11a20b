#include <set>
#include <string>
#include <vector>

#include "catch.hpp"
#include "pgwire/auth.hpp"
#include "pgwire/messages.hpp"

using namespace pgwire;
using kind = auth_step::kind;

namespace {

// RFC 7677 section 3, with the salt and keys of password "pencil" (checked independently with
// Python's hashlib: see test_crypto.cpp).
constexpr std::string_view rfc_client_nonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view rfc_server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view rfc_client_first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view rfc_server_first =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view rfc_client_final =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view rfc_server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
constexpr std::string_view pencil_secret =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
// HMAC(SaltedPassword("pencil"), "Client Key"), computed with Python.
constexpr std::string_view pencil_client_key_b64 = "pg/JI9Z+hkSpLRa5btpe9GVrDHJcSEN0viVTVXaZbos=";
// Our client sends an empty n=, so its messages differ from the RFC's. These are the RFC
// exchange redone with client-first-bare "n=,r=rOprNGfwEbeRWgbNEkqO", computed with Python.
constexpr std::string_view empty_user_client_final =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=qvT2SWdEH5Q06albL+hjSYuUhCG7VndFyzIb7CK4n9k=";
constexpr std::string_view empty_user_server_final =
    "v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg=";

scram_secret pencil() {
  return *parse_scram_secret(pencil_secret);
}

scram_keys pencil_keys() {
  scram_keys k;
  const auto ck = base64_decode(pencil_client_key_b64);
  std::copy(ck->begin(), ck->end(), k.client_key.begin());
  k.server_key = pencil().server_key;
  return k;
}

std::string secret_for(std::string_view password, std::string_view salt = "sixteen byte slt") {
  return format_scram_secret(make_scram_secret(password, salt, 4096));
}

/// The one message in `b`, framed as the peer would frame it.
frame one_frame(const byte_buffer& b) {
  const frame_result r = frame_message(b, 1 << 20);
  REQUIRE(r.status == frame_status::message);
  REQUIRE(r.msg.size == b.size());
  return r.msg;
}

std::string_view as_chars(bytes_view b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

struct outcome {
  kind client = kind::failed, server = kind::failed;
  errc client_error = errc::ok, server_error = errc::ok;
  bool ok() const { return client == kind::done && server == kind::done; }
};

/// Runs a login: everything the client_authenticator emits is framed and handed to the
/// server_authenticator and back. Once the client side is done, AuthenticationOk follows (the
/// caller of client_authenticator writes it).
outcome exchange(client_authenticator& ca, server_authenticator& sa) {
  outcome o;
  auth_step c = ca.start();
  for (int round = 0; round < 8; ++round) {
    o.client = c.what;
    o.client_error = c.error;
    if (c.what == kind::failed) return o;
    byte_buffer to_server = c.out;
    if (c.what == kind::done) write_auth_ok(to_server);
    auth_step s;
    for (bytes_view rest(to_server); !rest.empty();) {
      const frame_result r = frame_message(rest, 1 << 20);
      REQUIRE(r.status == frame_status::message);
      s = sa.resume(r.msg);
      o.server = s.what;
      o.server_error = s.error;
      if (s.what == kind::failed) return o;
      rest = rest.subspan(r.msg.size);
    }
    if (c.what == kind::done) return o;
    REQUIRE(s.what == kind::send_and_wait);
    REQUIRE_FALSE(s.out.empty());
    c = ca.resume(one_frame(s.out));
  }
  FAIL("the exchange did not finish");
  return o;
}

auth_code code_of(const byte_buffer& b) {
  authentication_msg m;
  REQUIRE(decode(one_frame(b), m) == errc::ok);
  return m.code;
}

}  // namespace

// ================================================================ scram_server / scram_client

TEST_CASE("scram_server reproduces RFC 7677 from the RFC's literal messages", "[auth][scram]") {
  scram_server srv(pencil(), std::string(rfc_server_nonce));
  std::string reply;
  auto s = srv.resume_raw(rfc_client_first, reply);  // n=user is accepted and ignored
  REQUIRE(s.what == kind::send_and_wait);
  CHECK(reply == rfc_server_first);
  CHECK_FALSE(srv.keys());
  s = srv.resume_raw(rfc_client_final, reply);
  REQUIRE(s.what == kind::done);
  CHECK(reply == rfc_server_final);
  REQUIRE(srv.keys());
  CHECK(base64_encode(srv.keys()->client_key) == pencil_client_key_b64);
  CHECK(srv.keys()->server_key == pencil().server_key);
  // Nothing more is expected.
  CHECK(srv.resume_raw(rfc_client_final, reply).error == errc::unexpected_message);
}

TEST_CASE("scram_server rejects a wrong proof of the RFC exchange", "[auth][scram]") {
  scram_server srv(pencil(), std::string(rfc_server_nonce));
  std::string reply;
  REQUIRE(srv.resume_raw(rfc_client_first, reply).what == kind::send_and_wait);
  // The proof of the empty-n= exchange does not fit an AuthMessage that has n=user.
  const auto s = srv.resume_raw(empty_user_client_final, reply);
  CHECK(s.what == kind::failed);
  CHECK(s.error == errc::auth_failed);
  CHECK(reply.empty());
  CHECK_FALSE(srv.keys());
}

TEST_CASE("scram_client computes the RFC 7677 proof from a password", "[auth][scram]") {
  auto cli = scram_client::with_password("pencil", std::string(rfc_client_nonce));
  CHECK(cli.client_first() == "n,,n=,r=rOprNGfwEbeRWgbNEkqO");
  std::string reply;
  auto s = cli.resume_raw(rfc_server_first, reply);
  REQUIRE(s.what == kind::send_and_wait);
  CHECK(reply == empty_user_client_final);
  s = cli.resume_raw(empty_user_server_final, reply);
  CHECK(s.what == kind::done);
  CHECK(reply.empty());
}

TEST_CASE("scram_client with pass-through keys computes the same proof", "[auth][scram]") {
  auto cli = scram_client::with_keys(pencil_keys(), std::string(rfc_client_nonce));
  REQUIRE(cli.client_first() == "n,,n=,r=rOprNGfwEbeRWgbNEkqO");
  std::string reply;
  REQUIRE(cli.resume_raw(rfc_server_first, reply).what == kind::send_and_wait);
  CHECK(reply == empty_user_client_final);
  CHECK(cli.resume_raw(empty_user_server_final, reply).what == kind::done);
}

TEST_CASE("scram_client's proof verifies on scram_server, both ways round", "[auth][scram]") {
  scram_server srv(pencil());
  auto cli = scram_client::with_password("pencil");
  std::string to_server = cli.client_first(), to_client;
  REQUIRE(srv.resume_raw(to_server, to_client).what == kind::send_and_wait);
  REQUIRE(cli.resume_raw(to_client, to_server).what == kind::send_and_wait);
  REQUIRE(srv.resume_raw(to_server, to_client).what == kind::done);
  CHECK(cli.resume_raw(to_client, to_server).what == kind::done);
  REQUIRE(srv.keys());
  CHECK(base64_encode(srv.keys()->client_key) == pencil_client_key_b64);
}

TEST_CASE("scram_client detects a wrong server signature", "[auth][scram]") {
  for (std::string_view final_msg :
       {std::string_view("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),  // RFC's: other n=
        std::string_view("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")}) {
    CAPTURE(final_msg);
    auto cli = scram_client::with_password("pencil", std::string(rfc_client_nonce));
    cli.client_first();
    std::string reply;
    REQUIRE(cli.resume_raw(rfc_server_first, reply).what == kind::send_and_wait);
    const auto s = cli.resume_raw(final_msg, reply);
    CHECK(s.what == kind::failed);
    CHECK(s.error == errc::server_signature_mismatch);
  }
}

TEST_CASE("scram_client: a server error is auth_failed, a short signature bad_field",
          "[auth][scram]") {
  const std::pair<std::string_view, errc> cases[] = {
      {"e=invalid-proof", errc::auth_failed},
      {"v=AAAA", errc::bad_field},
      {"v=not base64", errc::bad_field},
      {"", errc::bad_field},
      {"x=1", errc::bad_field},
  };
  for (const auto& [msg, err] : cases) {
    CAPTURE(msg);
    auto cli = scram_client::with_password("pencil", std::string(rfc_client_nonce));
    cli.client_first();
    std::string reply;
    REQUIRE(cli.resume_raw(rfc_server_first, reply).what == kind::send_and_wait);
    CHECK(cli.resume_raw(msg, reply).error == err);
  }
}

TEST_CASE("scram_client rejects a malformed server-first", "[auth][scram]") {
  const std::pair<std::string_view, errc> cases[] = {
      // not our nonce, or not extended
      {"r=XOprNGfwEbeRWgbNEkqO123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", errc::bad_field},
      {"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", errc::bad_field},
      {"r=rOprNGfwEbeRWgbNEkqO1,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0", errc::bad_field},
      {"r=rOprNGfwEbeRWgbNEkqO1,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1", errc::bad_field},
      {"r=rOprNGfwEbeRWgbNEkqO1,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=10000001", errc::bad_field},
      {"r=rOprNGfwEbeRWgbNEkqO1,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096x", errc::bad_field},
      {"r=rOprNGfwEbeRWgbNEkqO1,s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096", errc::bad_field},
      {"r=rOprNGfwEbeRWgbNEkqO1,s=,i=4096", errc::bad_field},
      {"r=rOprNGfwEbeRWgbNEkqO1,i=4096,s=W22ZaJ0SNY7soEsUEjb6gQ==", errc::bad_field},
      {"r=rOprNGfwEbeRWgbNEkqO1,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,", errc::bad_field},
      {"r=rOprNGfwEbeRWgbNEkqO1,s=W22ZaJ0SNY7soEsUEjb6gQ==", errc::bad_field},
      {"m=ext,r=rOprNGfwEbeRWgbNEkqO1,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", errc::auth_unsupported},
      {"e=other-error", errc::bad_field},
  };
  for (const auto& [msg, err] : cases) {
    CAPTURE(msg);
    auto cli = scram_client::with_password("pencil", std::string(rfc_client_nonce));
    cli.client_first();
    std::string reply;
    const auto s = cli.resume_raw(msg, reply);
    CHECK(s.what == kind::failed);
    CHECK(s.error == err);
    CHECK(reply.empty());
    // Failed for good.
    CHECK(cli.resume_raw(rfc_server_first, reply).error == errc::unexpected_message);
  }
}

TEST_CASE("scram_client computes no more than 100,000 iterations a server asks for",
          "[auth][scram]") {
  // The CVE-2026-6669 class: a server's iteration count is CPU the pooler spends, unbounded
  // unless refused before the key derivation starts.
  const std::string at_max = "r=rOprNGfwEbeRWgbNEkqO1,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=100000";
  const std::string above = "r=rOprNGfwEbeRWgbNEkqO1,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=100001";
  const std::string far_above = "r=rOprNGfwEbeRWgbNEkqO1,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=9999999";
  std::string reply;
  for (const std::string* msg : {&above, &far_above}) {
    CAPTURE(*msg);
    auto cli = scram_client::with_password("pencil", std::string(rfc_client_nonce));
    cli.client_first();
    const auto s = cli.resume_raw(*msg, reply);
    CHECK(s.what == kind::failed);
    CHECK(s.error == errc::scram_iterations_too_many);
  }
  auto cli = scram_client::with_password("pencil", std::string(rfc_client_nonce));
  cli.client_first();
  CHECK(cli.resume_raw(at_max, reply).what == kind::send_and_wait);
  // Pass-through keys derive nothing: the count is the server's business.
  auto keyed = scram_client::with_keys(pencil_keys(), std::string(rfc_client_nonce));
  keyed.client_first();
  CHECK(keyed.resume_raw(far_above, reply).what == kind::send_and_wait);
}

TEST_CASE("scram_client refuses to run before client_first or with a bad nonce", "[auth][scram]") {
  auto cli = scram_client::with_password("pencil", std::string(rfc_client_nonce));
  std::string reply;
  CHECK(cli.resume_raw(rfc_server_first, reply).error == errc::unexpected_message);
  auto bad = scram_client::with_password("pencil", "has,comma");
  CHECK(bad.client_first().empty());
  CHECK(bad.resume_raw(rfc_server_first, reply).error == errc::unexpected_message);
}

TEST_CASE("scram_server rejects malformed or unsupported client-first messages", "[auth][scram]") {
  const std::pair<std::string_view, errc> cases[] = {
      {"p=tls-server-end-point,,n=,r=abc", errc::auth_unsupported},
      {"p=tls-unique", errc::auth_unsupported},
      {"n,a=bob,n=,r=abc", errc::auth_unsupported},
      {"n,,m=ext,n=,r=abc", errc::auth_unsupported},
      {"x,,n=,r=abc", errc::bad_field},
      {"n,,n=,r=", errc::bad_field},
      {"n,,n=,r=ab\x7f", errc::bad_field},
      {"n,,r=abc", errc::bad_field},
      {"n,,n=", errc::bad_field},
      {"n,,n=,r=abc,", errc::bad_field},
      {"n,,n=,r=abc,1=x", errc::bad_field},
      {"n,x,n=,r=abc", errc::bad_field},
      {std::string_view("n,,n=,r=a\0c", 11), errc::bad_field},
      {"", errc::bad_field},
  };
  for (const auto& [msg, err] : cases) {
    CAPTURE(msg);
    scram_server srv(pencil());
    std::string reply;
    const auto s = srv.resume_raw(msg, reply);
    CHECK(s.what == kind::failed);
    CHECK(s.error == err);
    CHECK(reply.empty());
  }
  // Extensions after the nonce are skipped, as PostgreSQL does.
  scram_server srv(pencil(), "srv");
  std::string reply;
  CHECK(srv.resume_raw("n,,n=whoever,r=abc,x=ext", reply).what == kind::send_and_wait);
  CHECK(reply.starts_with("r=abcsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"));
}

TEST_CASE("scram_server checks client-final's channel binding, nonce and proof", "[auth][scram]") {
  const std::string nonce_part = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
  const std::string proof_part = "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
  const std::pair<std::string, errc> cases[] = {
      {"c=eSws," + nonce_part + "," + proof_part, errc::bad_field},  // flag was 'n'
      {"c=biws," + nonce_part + "x," + proof_part, errc::auth_failed},
      // A proof correctly made over an AuthMessage with the wrong nonce (Python): only the
      // nonce check stops it.
      {"c=biws," + nonce_part + "x,p=jIAulLel2yOSdws13QeDb+EjnVISOeTduGuUvrR3ZJA=",
       errc::auth_failed},
      {"c=biws,r=rOprNGfwEbeRWgbNEkqO," + proof_part, errc::auth_failed},
      {"c=biws," + nonce_part + ",p=AAAA", errc::bad_field},
      {"c=biws," + nonce_part + ",p=" + base64_encode(std::string(32, 'x')), errc::auth_failed},
      {"c=biws," + nonce_part, errc::bad_field},
      {"c=biws," + proof_part, errc::bad_field},  // no nonce (the CVE-2026-19888 class)
      {"c=biws,r=," + proof_part, errc::auth_failed},  // an empty nonce is not this one
      {"c=biws", errc::bad_field},
      {"c=biws,,", errc::bad_field},
      {"c=biws," + proof_part + "," + nonce_part, errc::bad_field},
      {"c=biws," + nonce_part + "," + proof_part + ",x=1", errc::bad_field},
      {"", errc::bad_field},
  };
  for (const auto& [msg, err] : cases) {
    CAPTURE(msg);
    scram_server srv(pencil(), std::string(rfc_server_nonce));
    std::string reply;
    REQUIRE(srv.resume_raw(rfc_client_first, reply).what == kind::send_and_wait);
    const auto s = srv.resume_raw(msg, reply);
    CHECK(s.what == kind::failed);
    CHECK(s.error == err);
    CHECK_FALSE(srv.keys());
  }
}

TEST_CASE("scram_server accepts the y,, gs2 header, with c=eSws", "[auth][scram]") {
  // The RFC exchange redone with "y,," and c=eSws (the proof covers c=), computed with Python.
  constexpr std::string_view y_client_first = "y,,n=user,r=rOprNGfwEbeRWgbNEkqO";
  constexpr std::string_view y_client_final =
      "c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
      "p=FoqiHTtQEDE8lz1CdaEe3tK4mS+iMDTl77SPyDS53DY=";
  scram_server srv(pencil(), std::string(rfc_server_nonce));
  std::string reply;
  REQUIRE(srv.resume_raw(y_client_first, reply).what == kind::send_and_wait);
  CHECK(reply == rfc_server_first);
  REQUIRE(srv.resume_raw(y_client_final, reply).what == kind::done);
  CHECK(reply == "v=dI4KpiQJwBr1+V+K6U1dA6l6I4I9DUNXWND4pcpRU3U=");

  // After "y,," the c= must be "eSws": the RFC's c=biws message is refused.
  scram_server srv2(pencil(), std::string(rfc_server_nonce));
  REQUIRE(srv2.resume_raw(y_client_first, reply).what == kind::send_and_wait);
  CHECK(srv2.resume_raw(rfc_client_final, reply).error == errc::bad_field);
}

TEST_CASE("scram_server refuses a secret it cannot announce", "[auth][scram]") {
  scram_secret s = pencil();
  s.iterations = 0;
  scram_server srv(s);
  std::string reply;
  CHECK(srv.resume_raw(rfc_client_first, reply).error == errc::bad_secret);
}

// ================================================================ full logins

TEST_CASE("login succeeds for every method and stored secret that fit", "[auth][login]") {
  const std::string md5_stored = md5_password_hash("bob", "secret");
  const std::string scram_stored = secret_for("secret");
  struct combo {
    client_auth_method method;
    std::string stored;    // what sluice holds for the client
    std::string password;  // what the connecting client holds
    auth_code first;       // the request the client must see first
  };
  const combo combos[] = {
      {client_auth_method::cleartext, "secret", "secret", auth_code::cleartext},
      {client_auth_method::cleartext, md5_stored, "secret", auth_code::cleartext},
      {client_auth_method::cleartext, scram_stored, "secret", auth_code::cleartext},
      {client_auth_method::md5, "secret", "secret", auth_code::md5},
      {client_auth_method::md5, md5_stored, "secret", auth_code::md5},
      {client_auth_method::md5, "secret", md5_stored, auth_code::md5},  // client holds the hash
      {client_auth_method::md5, md5_stored, md5_stored, auth_code::md5},
      {client_auth_method::md5, scram_stored, "secret", auth_code::sasl},  // switches to SCRAM
      {client_auth_method::scram_sha_256, "secret", "secret", auth_code::sasl},
      {client_auth_method::scram_sha_256, scram_stored, "secret", auth_code::sasl},
  };
  for (const auto& c : combos) {
    CAPTURE(static_cast<int>(c.method), c.stored, c.password);
    client_authenticator ca(c.method, "bob", c.stored);
    server_authenticator sa("bob", c.password);
    {
      client_authenticator probe(c.method, "bob", c.stored);
      const auto first = probe.start();
      REQUIRE(first.what == kind::send_and_wait);
      CHECK(code_of(first.out) == c.first);
    }
    const outcome o = exchange(ca, sa);
    CHECK(o.client == kind::done);
    CHECK(o.client_error == errc::ok);
    CHECK(o.server == kind::done);
    CHECK(o.server_error == errc::ok);
    CHECK(ca.keys().has_value() == (c.first == auth_code::sasl));
  }
}

TEST_CASE("a SCRAM secret decoded once is the one a login checks", "[auth][login][scram]") {
  // The userlist decodes its SCRAM secrets when it is read; a login given the decoded secret
  // uses it and does not decode the text again (here a text that would not decode at all).
  const auto decoded = parse_scram_secret(secret_for("secret"));
  REQUIRE(decoded);
  for (const auto method : {client_auth_method::scram_sha_256, client_auth_method::cleartext}) {
    CAPTURE(static_cast<int>(method));
    client_authenticator with(method, "bob", "SCRAM-SHA-256$not a secret", {}, 4096, &*decoded);
    server_authenticator right("bob", "secret");
    CHECK(exchange(with, right).ok());
    client_authenticator wrong_pw(method, "bob", "SCRAM-SHA-256$not a secret", {}, 4096, &*decoded);
    server_authenticator wrong("bob", "secreT");
    CHECK_FALSE(exchange(wrong_pw, wrong).ok());
  }
}

TEST_CASE("login with a wrong password fails for every method", "[auth][login]") {
  const std::string md5_stored = md5_password_hash("bob", "secret");
  const std::string scram_stored = secret_for("secret");
  const std::pair<client_auth_method, std::string> combos[] = {
      {client_auth_method::cleartext, "secret"},
      {client_auth_method::cleartext, md5_stored},
      {client_auth_method::cleartext, scram_stored},
      {client_auth_method::md5, "secret"},
      {client_auth_method::md5, md5_stored},
      {client_auth_method::md5, scram_stored},
      {client_auth_method::scram_sha_256, "secret"},
      {client_auth_method::scram_sha_256, scram_stored},
  };
  for (const auto& [method, stored] : combos) {
    for (std::string password : {"Secret", "secret ", "x"}) {
      CAPTURE(static_cast<int>(method), stored, password);
      client_authenticator ca(method, "bob", stored);
      server_authenticator sa("bob", password);
      const outcome o = exchange(ca, sa);
      CHECK(o.client == kind::failed);
      CHECK(o.client_error == errc::auth_failed);
      CHECK(o.server != kind::done);
      CHECK_FALSE(ca.keys());
    }
  }
  // The md5 hash is salted with the user name: right password, wrong user fails too.
  client_authenticator ca(client_auth_method::md5, "bob", md5_password_hash("bob", "secret"));
  server_authenticator sa("alice", "secret");
  CHECK(exchange(ca, sa).client_error == errc::auth_failed);
}

TEST_CASE("an empty stored password never authenticates", "[auth][login]") {
  for (auto method : {client_auth_method::cleartext, client_auth_method::md5,
                      client_auth_method::scram_sha_256}) {
    CAPTURE(static_cast<int>(method));
    client_authenticator ca(method, "bob", "");
    // The empty password can be computed from, but must still be refused.
    auto step = ca.start();
    REQUIRE(step.what == kind::send_and_wait);
    if (method == client_auth_method::scram_sha_256) {
      scram_client cli = scram_client::with_password("");
      byte_buffer b;
      write_sasl_initial_response(b, "SCRAM-SHA-256", cli.client_first());
      step = ca.resume(one_frame(b));
      REQUIRE(step.what == kind::send_and_wait);
      authentication_msg m;
      REQUIRE(decode(one_frame(step.out), m) == errc::ok);
      std::string reply;
      REQUIRE(cli.resume_raw(as_chars(m.data), reply).what == kind::send_and_wait);
      b.clear();
      write_sasl_response(b, reply);
      step = ca.resume(one_frame(b));
    } else {
      byte_buffer b;
      authentication_msg m;
      REQUIRE(decode(one_frame(step.out), m) == errc::ok);
      write_password(b, method == client_auth_method::md5
                            ? md5_salted_response(md5_password_hash("bob", ""), m.md5_salt)
                            : "");
      step = ca.resume(one_frame(b));
    }
    CHECK(step.what == kind::failed);
    CHECK(step.error == errc::auth_failed);
  }
}

TEST_CASE("SCRAM login with a fixed nonce and the keys it yields", "[auth][login][scram]") {
  const std::string stored = secret_for("secret");
  client_authenticator ca(client_auth_method::scram_sha_256, "bob", stored, "SRVNONCE");
  server_authenticator sa("bob", "secret", std::nullopt, "CLINONCE");
  auto c = ca.start();
  REQUIRE(c.what == kind::send_and_wait);
  authentication_msg req;
  REQUIRE(decode(one_frame(c.out), req) == errc::ok);
  REQUIRE(req.code == auth_code::sasl);
  REQUIRE(req.mechanisms.size() == 1);  // never SCRAM-SHA-256-PLUS
  CHECK(req.mechanisms[0] == "SCRAM-SHA-256");

  auto s = sa.resume(one_frame(c.out));
  REQUIRE(s.what == kind::send_and_wait);
  sasl_initial_response_msg init;
  REQUIRE(decode(one_frame(s.out), init) == errc::ok);
  CHECK(init.mechanism == "SCRAM-SHA-256");
  REQUIRE(init.data);
  CHECK(as_chars(*init.data) == "n,,n=,r=CLINONCE");

  c = ca.resume(one_frame(s.out));
  REQUIRE(c.what == kind::send_and_wait);
  authentication_msg cont;
  REQUIRE(decode(one_frame(c.out), cont) == errc::ok);
  CHECK(cont.code == auth_code::sasl_continue);
  CHECK(as_chars(cont.data) ==
        "r=CLINONCESRVNONCE,s=" + base64_encode("sixteen byte slt") + ",i=4096");

  s = sa.resume(one_frame(c.out));
  REQUIRE(s.what == kind::send_and_wait);
  CHECK(as_chars(one_frame(s.out).body).starts_with("c=biws,r=CLINONCESRVNONCE,p="));
  c = ca.resume(one_frame(s.out));
  REQUIRE(c.what == kind::done);
  CHECK(code_of(c.out) == auth_code::sasl_final);
  s = sa.resume(one_frame(c.out));
  CHECK(s.what == kind::send_and_wait);
  CHECK(s.out.empty());
  byte_buffer ok;
  write_auth_ok(ok);
  CHECK(sa.resume(one_frame(ok)).what == kind::done);

  // The recovered ClientKey reproduces the secret's StoredKey; ServerKey is the secret's.
  REQUIRE(ca.keys());
  const auto secret = parse_scram_secret(stored);
  CHECK(ca.keys()->server_key == secret->server_key);
  const scram_secret derived = make_scram_secret("secret", "sixteen byte slt", 4096);
  CHECK(derived.stored_key == secret->stored_key);
  // After done, even a well-formed 'p' message is unexpected.
  byte_buffer more;
  write_sasl_response(more, "c=biws");
  CHECK(ca.resume(one_frame(more)).error == errc::unexpected_message);
}

TEST_CASE("pass-through: recovered SCRAM keys log in where the same secret is stored",
          "[auth][login][scram]") {
  const std::string stored = secret_for("secret", "salt number one!");
  client_authenticator front(client_auth_method::scram_sha_256, "bob", stored);
  server_authenticator client("bob", "secret");
  REQUIRE(exchange(front, client).ok());
  REQUIRE(front.keys());
  const scram_keys keys = *front.keys();

  SECTION("same secret: success, with no password at all") {
    client_authenticator backend(client_auth_method::scram_sha_256, "bob", stored);
    server_authenticator pooler("bob", "", keys);
    const outcome o = exchange(backend, pooler);
    CHECK(o.ok());
    // md5 with a SCRAM secret switches to SCRAM, so pass-through works there too.
    client_authenticator md5_backend(client_auth_method::md5, "bob", stored);
    server_authenticator pooler2("bob", "", keys);
    CHECK(exchange(md5_backend, pooler2).ok());
  }
  SECTION("same password, other salt: the keys do not fit") {
    client_authenticator backend(client_auth_method::scram_sha_256, "bob",
                                 secret_for("secret", "salt number two!"));
    server_authenticator pooler("bob", "", keys);
    const outcome o = exchange(backend, pooler);
    CHECK(o.client == kind::failed);
    CHECK(o.client_error == errc::auth_failed);
    CHECK(o.server != kind::done);
  }
  SECTION("keys cannot answer md5 or cleartext") {
    for (auto method : {client_auth_method::md5, client_auth_method::cleartext}) {
      client_authenticator backend(method, "bob", "secret");
      server_authenticator pooler("bob", "", keys);
      const outcome o = exchange(backend, pooler);
      CHECK(o.server == kind::failed);
      CHECK(o.server_error == errc::password_is_scram_secret);
    }
  }
  SECTION("a plaintext password wins over keys that fit another secret") {
    // The userlist holds the plaintext; the keys came from verifying a client against it
    // with sluice's own salt. The server's secret has another salt: only the password fits.
    client_authenticator backend(client_auth_method::scram_sha_256, "bob",
                                 secret_for("secret", "salt number two!"));
    server_authenticator pooler("bob", "secret", keys);
    CHECK(exchange(backend, pooler).ok());
  }
}

// ================================================================ client_authenticator edges

TEST_CASE("client_authenticator refuses SCRAM against an md5 stored password", "[auth]") {
  client_authenticator ca(client_auth_method::scram_sha_256, "bob", md5_password_hash("bob", "x"));
  const auto s = ca.start();
  CHECK(s.what == kind::failed);
  CHECK(s.error == errc::auth_unsupported);
  CHECK(s.out.empty());
}

TEST_CASE("client_authenticator: wrong tags, wrong mechanism, messages after the end", "[auth]") {
  byte_buffer query;
  write_query(query, "select 1");
  byte_buffer pw;
  write_password(pw, "secret");

  SECTION("a non-'p' message fails") {
    client_authenticator ca(client_auth_method::cleartext, "bob", "secret");
    REQUIRE(ca.start().what == kind::send_and_wait);
    const auto s = ca.resume(one_frame(query));
    CHECK(s.error == errc::unexpected_message);
    // and the failure is final
    CHECK(ca.resume(one_frame(pw)).error == errc::unexpected_message);
  }
  SECTION("a message before start or after done fails") {
    client_authenticator ca(client_auth_method::cleartext, "bob", "secret");
    CHECK(ca.resume(one_frame(pw)).error == errc::unexpected_message);
    client_authenticator ca2(client_auth_method::cleartext, "bob", "secret");
    REQUIRE(ca2.start().what == kind::send_and_wait);
    REQUIRE(ca2.resume(one_frame(pw)).what == kind::done);
    CHECK(ca2.resume(one_frame(pw)).error == errc::unexpected_message);
    CHECK(ca2.start().error == errc::unexpected_message);
  }
  SECTION("an empty cleartext password fails even if it were stored") {
    client_authenticator ca(client_auth_method::cleartext, "bob", "secret");
    REQUIRE(ca.start().what == kind::send_and_wait);
    byte_buffer empty;
    write_password(empty, "");
    CHECK(ca.resume(one_frame(empty)).error == errc::auth_failed);
  }
  SECTION("SASLInitialResponse for another mechanism") {
    client_authenticator ca(client_auth_method::scram_sha_256, "bob", "secret");
    REQUIRE(ca.start().what == kind::send_and_wait);
    byte_buffer b;
    write_sasl_initial_response(b, "SCRAM-SHA-256-PLUS", "p=tls-server-end-point,,n=,r=abc");
    CHECK(ca.resume(one_frame(b)).error == errc::auth_unsupported);
  }
  SECTION("SASLInitialResponse asking for channel binding") {
    client_authenticator ca(client_auth_method::scram_sha_256, "bob", "secret");
    REQUIRE(ca.start().what == kind::send_and_wait);
    byte_buffer b;
    write_sasl_initial_response(b, "SCRAM-SHA-256", "p=tls-server-end-point,,n=,r=abc");
    CHECK(ca.resume(one_frame(b)).error == errc::auth_unsupported);
  }
  SECTION("a truncated SASLInitialResponse is a decode error, not a crash") {
    client_authenticator ca(client_auth_method::scram_sha_256, "bob", "secret");
    REQUIRE(ca.start().what == kind::send_and_wait);
    byte_buffer b;
    message_writer(b, 'p').cstr("SCRAM-SHA-256").i32(100).bytes(std::string_view("n,,"));
    const auto s = ca.resume(one_frame(b));
    CHECK(s.what == kind::failed);
    CHECK(s.error == errc::truncated);
  }
  SECTION("an md5 answer with the wrong salt fails") {
    client_authenticator ca(client_auth_method::md5, "bob", "secret");
    const auto start = ca.start();
    authentication_msg m;
    REQUIRE(decode(one_frame(start.out), m) == errc::ok);
    std::uint8_t other[4];
    std::copy(m.md5_salt, m.md5_salt + 4, other);
    other[0] ^= 1;
    byte_buffer b;
    write_password(b, md5_salted_response(md5_password_hash("bob", "secret"), other));
    CHECK(ca.resume(one_frame(b)).error == errc::auth_failed);
  }
}

TEST_CASE("client_authenticator's md5 salt is fresh each time", "[auth]") {
  std::set<std::vector<std::uint8_t>> seen;
  for (int i = 0; i < 8; ++i) {
    client_authenticator ca(client_auth_method::md5, "bob", "secret");
    const auto s = ca.start();
    authentication_msg m;
    REQUIRE(decode(one_frame(s.out), m) == errc::ok);
    seen.insert(std::vector<std::uint8_t>(m.md5_salt, m.md5_salt + 4));
  }
  CHECK(seen.size() > 1);
}

// ================================================================ server_authenticator edges

TEST_CASE("server_authenticator answers md5 with a known response", "[auth]") {
  const std::uint8_t salt[4] = {1, 2, 3, 4};
  byte_buffer req;
  write_auth_md5(req, salt);
  // From the plaintext password and from the stored md5 hash alike.
  for (std::string password : {std::string("secret"), md5_password_hash("bob", "secret")}) {
    server_authenticator sa("bob", password);
    const auto s = sa.resume(one_frame(req));
    REQUIRE(s.what == kind::send_and_wait);
    password_msg m;
    REQUIRE(decode(one_frame(s.out), m) == errc::ok);
    CHECK(m.password == "md5f21dfe33ff3a9e03dbc3e008251fe5cc");
  }
}

TEST_CASE("server_authenticator sends the cleartext password and takes AuthenticationOk",
          "[auth]") {
  server_authenticator sa("bob", "secret");
  byte_buffer req, ok;
  write_auth_cleartext(req);
  write_auth_ok(ok);
  const auto s = sa.resume(one_frame(req));
  REQUIRE(s.what == kind::send_and_wait);
  password_msg m;
  REQUIRE(decode(one_frame(s.out), m) == errc::ok);
  CHECK(m.password == "secret");
  const auto d = sa.resume(one_frame(ok));
  CHECK(d.what == kind::done);
  CHECK(d.out.empty());
  CHECK(sa.resume(one_frame(ok)).error == errc::unexpected_message);
}

TEST_CASE("server_authenticator: trust login is an immediate AuthenticationOk", "[auth]") {
  server_authenticator sa("bob", "");
  byte_buffer ok;
  write_auth_ok(ok);
  CHECK(sa.resume(one_frame(ok)).what == kind::done);
}

TEST_CASE("server_authenticator refuses what it cannot or must not do", "[auth]") {
  auto request = [](std::int32_t code) {
    byte_buffer b;
    message_writer(b, 'R').i32(code);
    return b;
  };
  byte_buffer cleartext, md5, sasl_plus, sasl;
  write_auth_cleartext(cleartext);
  const std::uint8_t salt[4] = {9, 9, 9, 9};
  write_auth_md5(md5, salt);
  write_auth_sasl(sasl_plus, {"SCRAM-SHA-256-PLUS"});
  write_auth_sasl(sasl, {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"});
  const std::string md5_hash = md5_password_hash("bob", "secret");
  const std::string scram = secret_for("secret");
  struct row {
    std::string password;
    byte_buffer req;
    errc err;
  };
  const row rows[] = {
      {"secret", request(2), errc::auth_unsupported},  // Kerberos V5
      {"secret", request(7), errc::auth_unsupported},  // GSS
      {"secret", request(9), errc::auth_unsupported},  // SSPI
      {"secret", request(4), errc::bad_field},         // unknown code
      {"secret", sasl_plus, errc::auth_unsupported},   // only channel binding on offer
      {"", cleartext, errc::no_password},
      {md5_hash, cleartext, errc::password_is_md5_hash},  // never send a hash as a password
      {scram, cleartext, errc::password_is_scram_secret},
      {"", md5, errc::no_password},
      {scram, md5, errc::password_is_scram_secret},
      {"", sasl, errc::no_password},
      {md5_hash, sasl, errc::password_is_md5_hash},
      {scram, sasl, errc::scram_keys_unknown},  // a secret alone cannot make a proof
  };
  for (const auto& r : rows) {
    CAPTURE(r.password, static_cast<int>(r.err));
    server_authenticator sa("bob", r.password);
    const auto s = sa.resume(one_frame(r.req));
    CHECK(s.what == kind::failed);
    CHECK(s.error == r.err);
    CHECK(s.out.empty());
  }
  // With both -PLUS and plain on offer, plain SCRAM is picked.
  server_authenticator sa("bob", "secret");
  const auto s = sa.resume(one_frame(sasl));
  REQUIRE(s.what == kind::send_and_wait);
  sasl_initial_response_msg m;
  REQUIRE(decode(one_frame(s.out), m) == errc::ok);
  CHECK(m.mechanism == "SCRAM-SHA-256");
}

TEST_CASE("server_authenticator: non-'R' messages and out-of-order requests fail", "[auth]") {
  byte_buffer err, ok, sasl, cont, fin;
  write_error(err, "FATAL", "28P01", "password authentication failed");
  write_auth_ok(ok);
  write_auth_sasl(sasl, {"SCRAM-SHA-256"});
  write_auth_sasl_continue(cont, "r=x,s=AAAA,i=1");
  write_auth_sasl_final(fin, "v=AAAA");

  server_authenticator a("bob", "secret");
  CHECK(a.resume(one_frame(err)).error == errc::unexpected_message);

  server_authenticator b("bob", "secret");
  CHECK(b.resume(one_frame(cont)).error == errc::unexpected_message);  // before SASL

  server_authenticator c("bob", "secret");
  REQUIRE(c.resume(one_frame(sasl)).what == kind::send_and_wait);
  // AuthenticationOk before the server proved itself: possibly a man in the middle.
  CHECK(c.resume(one_frame(ok)).error == errc::unexpected_message);

  server_authenticator d("bob", "secret");
  REQUIRE(d.resume(one_frame(sasl)).what == kind::send_and_wait);
  CHECK(d.resume(one_frame(fin)).error == errc::unexpected_message);  // final before continue

  server_authenticator e("bob", "secret", std::nullopt, "abc");
  REQUIRE(e.resume(one_frame(sasl)).what == kind::send_and_wait);
  CHECK(e.resume(one_frame(cont)).error == errc::bad_field);  // nonce does not extend ours
}

TEST_CASE("server_authenticator detects a forged SASLFinal", "[auth][scram]") {
  client_authenticator ca(client_auth_method::scram_sha_256, "bob", secret_for("secret"));
  server_authenticator sa("bob", "secret");
  auto c = ca.start();
  auto s = sa.resume(one_frame(c.out));
  c = ca.resume(one_frame(s.out));
  s = sa.resume(one_frame(c.out));
  REQUIRE(s.what == kind::send_and_wait);
  // Instead of passing the real SASLFinal on, a forger answers with its own signature.
  byte_buffer forged;
  write_auth_sasl_final(forged, "v=" + base64_encode(std::string(32, '\x5a')));
  const auto f = sa.resume(one_frame(forged));
  CHECK(f.what == kind::failed);
  CHECK(f.error == errc::server_signature_mismatch);
  byte_buffer ok;
  write_auth_ok(ok);
  CHECK(sa.resume(one_frame(ok)).error == errc::unexpected_message);
}

TEST_CASE("SCRAM from a plaintext password uses the configured iteration count",
          "[auth][login][scram]") {
  // The server-first-message says i=<iterations>; the client derives its proof with it.
  for (int iterations : {client_authenticator::default_scram_iterations, 1, 5000}) {
    CAPTURE(iterations);
    client_authenticator ca(client_auth_method::scram_sha_256, "bob", "secret", {}, iterations);
    auto step = ca.start();
    REQUIRE(step.what == kind::send_and_wait);
    scram_client cli = scram_client::with_password("secret");
    byte_buffer b;
    write_sasl_initial_response(b, "SCRAM-SHA-256", cli.client_first());
    step = ca.resume(one_frame(b));
    REQUIRE(step.what == kind::send_and_wait);
    authentication_msg m;
    REQUIRE(decode(one_frame(step.out), m) == errc::ok);
    const std::string server_first(as_chars(m.data));
    CHECK(server_first.ends_with(",i=" + std::to_string(iterations)));
    std::string reply;
    REQUIRE(cli.resume_raw(server_first, reply).what == kind::send_and_wait);
    b.clear();
    write_sasl_response(b, reply);
    CHECK(ca.resume(one_frame(b)).what == kind::done);
  }
  // A count the secret cannot be built with fails the exchange, it does not fall back.
  for (int bad : {0, -1, 10'000'001}) {
    client_authenticator ca(client_auth_method::scram_sha_256, "bob", "secret", {}, bad);
    const auto step = ca.start();
    CHECK(step.what == kind::failed);
    CHECK(step.error == errc::crypto_failure);
  }
}
