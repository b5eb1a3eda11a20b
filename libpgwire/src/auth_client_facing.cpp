// Client-facing authentication: sluice as the server, verifying a client that connects to it
// (client_authenticator: cleartext, MD5 and SCRAM-SHA-256), and the server side of SCRAM that
// it runs (scram_server). sluice logging in to PostgreSQL is in auth_server_facing.cpp.
#include "pgwire/auth.hpp"
#include "auth_detail.hpp"
#include "crypto_detail.hpp"

#include <string>

#include "pgwire/messages.hpp"

namespace pgwire {

// The shared helpers of auth_detail.hpp, by their short names.
using detail::as_chars;
using detail::as_view;
using detail::attr;
using detail::decode_digest;
using detail::done;
using detail::extension;
using detail::failed;
using detail::key_wiper;
using detail::random_nonce;
using detail::scram_mechanism;
using detail::send_and_wait;
using detail::split_fields;
using detail::valid_nonce;

namespace {
constexpr std::size_t scram_salt_len = 16;      // PostgreSQL's SCRAM_DEFAULT_SALT_LEN
}  // namespace

// ================================================================ scram_server

namespace {
enum scram_server_state { ss_want_first = 0, ss_want_final, ss_done, ss_failed };
}

scram_server::scram_server(scram_secret secret, std::string nonce)
    : secret_(std::move(secret)), nonce_(std::move(nonce)) {
  // An empty nonce_ after this means the CSPRNG failed; resume_raw reports it.
  if (nonce_.empty()) nonce_ = random_nonce();
}

auth_step scram_server::resume_raw(std::string_view msg, std::string& reply) {
  reply.clear();
  auto fail = [this](errc e) {
    state_ = ss_failed;
    return failed(e);
  };
  if (state_ != ss_want_first && state_ != ss_want_final) return fail(errc::unexpected_message);
  // The messages are NUL-terminated C strings to PostgreSQL; an embedded NUL is malformed.
  if (msg.find('\0') != std::string_view::npos) return fail(errc::bad_field);

  if (state_ == ss_want_first) {
    if (nonce_.empty()) return fail(errc::crypto_failure);
    if (!valid_nonce(nonce_)) return fail(errc::bad_field);
    if (!detail::valid_iterations(secret_.iterations) || secret_.salt.empty())
      return fail(errc::bad_secret);

    // gs2-header: cbind-flag "," [authzid] ","
    const auto f = split_fields(msg);
    if (f.size() < 4) {
      // Still say "unsupported" for channel binding, however short the rest is.
      if (!f.empty() && f[0].starts_with("p=")) return fail(errc::auth_unsupported);
      return fail(errc::bad_field);
    }
    if (f[0].starts_with("p=")) return fail(errc::auth_unsupported);  // we never offer -PLUS
    // 'y' = "the client could bind but thinks we can't": true, we never advertise -PLUS.
    if (f[0] != "n" && f[0] != "y") return fail(errc::bad_field);
    if (f[1].starts_with("a=")) return fail(errc::auth_unsupported);  // authzid, as PostgreSQL
    if (!f[1].empty()) return fail(errc::bad_field);
    if (f[2].starts_with("m=")) return fail(errc::auth_unsupported);  // mandatory extension
    std::string_view user, client_nonce;
    // The user name is ignored: PostgreSQL takes it from the startup packet.
    if (!attr(f[2], 'n', user)) return fail(errc::bad_field);
    if (!attr(f[3], 'r', client_nonce) || !valid_nonce(client_nonce)) return fail(errc::bad_field);
    for (std::size_t i = 4; i < f.size(); ++i)
      if (!extension(f[i])) return fail(errc::bad_field);

    cbind_flag_ = f[0][0];
    client_first_bare_ = std::string(msg.substr(f[0].size() + f[1].size() + 2));
    combined_nonce_ = std::string(client_nonce) + nonce_;
    server_first_ = "r=" + combined_nonce_ + ",s=" + base64_encode(secret_.salt) +
                    ",i=" + std::to_string(secret_.iterations);
    reply = server_first_;
    state_ = ss_want_final;
    return send_and_wait();
  }

  // client-final: "c=" cbind "," "r=" nonce ["," extensions] "," "p=" proof
  const auto f = split_fields(msg);
  if (f.size() < 3) return fail(errc::bad_field);
  std::string_view cbind, nonce, proof_b64;
  if (!attr(f[0], 'c', cbind) || !attr(f[1], 'r', nonce) || !attr(f.back(), 'p', proof_b64))
    return fail(errc::bad_field);
  for (std::size_t i = 2; i + 1 < f.size(); ++i)
    if (!extension(f[i])) return fail(errc::bad_field);
  // Without channel binding c= is base64 of the gs2 header, and must repeat the flag the
  // client sent first ("biws" = "n,,", "eSws" = "y,,").
  if (cbind != (cbind_flag_ == 'y' ? "eSws" : "biws")) return fail(errc::bad_field);
  // A proof made for another nonce is a replay or a confused client: not this exchange.
  if (nonce != combined_nonce_) return fail(errc::auth_failed);
  sha256_digest proof{};
  if (!decode_digest(proof_b64, proof)) return fail(errc::bad_field);

  const std::string_view without_proof = msg.substr(0, msg.size() - f.back().size() - 1);
  std::string auth_message;
  auth_message.reserve(client_first_bare_.size() + server_first_.size() + without_proof.size() + 2);
  auth_message.append(client_first_bare_)
      .append(",")
      .append(server_first_)
      .append(",")
      .append(without_proof);

  sha256_digest client_signature{}, client_key{}, stored_key{}, server_signature{};
  key_wiper wipe(client_signature, client_key, stored_key);
  if (!detail::hmac_sha256(secret_.stored_key, auth_message, client_signature))
    return fail(errc::crypto_failure);
  for (std::size_t i = 0; i < client_key.size(); ++i)
    client_key[i] = static_cast<std::uint8_t>(proof[i] ^ client_signature[i]);
  if (!detail::sha256(client_key, stored_key)) return fail(errc::crypto_failure);
  if (!constant_time_equal(as_view(stored_key), as_view(secret_.stored_key)))
    return fail(errc::auth_failed);
  if (!detail::hmac_sha256(secret_.server_key, auth_message, server_signature))
    return fail(errc::crypto_failure);

  keys_ = scram_keys{client_key, secret_.server_key};
  reply = "v=" + base64_encode(server_signature);
  state_ = ss_done;
  return done();
}

// ================================================================ client_authenticator

namespace {
enum client_auth_state {
  ca_new = 0,
  ca_want_password,       // cleartext
  ca_want_md5,            // md5 answer
  ca_want_sasl_initial,   // SASLInitialResponse
  ca_want_sasl_response,  // SASLResponse (client-final)
  ca_done,
  ca_failed,
};
}

client_authenticator::client_authenticator(client_auth_method method, std::string user,
                                           std::string stored, std::string scram_nonce,
                                           int scram_iterations, const scram_secret* parsed)
    : method_(method),
      user_(std::move(user)),
      stored_(std::move(stored)),
      scram_nonce_(std::move(scram_nonce)),
      scram_iterations_(scram_iterations),
      parsed_(parsed) {}

const std::optional<scram_keys>& client_authenticator::keys() const noexcept {
  static const std::optional<scram_keys> none;
  return state_ == ca_done && scram_ ? scram_->keys() : none;
}

auth_step client_authenticator::start() {
  auto fail = [this](errc e) {
    state_ = ca_failed;
    return failed(e);
  };
  if (state_ != ca_new) return fail(errc::unexpected_message);
  // classify_password decodes a SCRAM secret to know it is one: not again when it is given.
  const password_kind kind = parsed_ ? password_kind::scram : classify_password(stored_);
  // A SCRAM secret cannot answer an MD5 challenge; PostgreSQL and pgbouncer switch to SCRAM.
  if (method_ == client_auth_method::md5 && kind == password_kind::scram)
    method_ = client_auth_method::scram_sha_256;

  byte_buffer out;
  switch (method_) {
    case client_auth_method::cleartext:
      write_auth_cleartext(out);
      state_ = ca_want_password;
      return send_and_wait(std::move(out));

    case client_auth_method::md5:
      if (!random_bytes(salt_)) return fail(errc::crypto_failure);
      write_auth_md5(out, salt_);
      state_ = ca_want_md5;
      return send_and_wait(std::move(out));

    case client_auth_method::scram_sha_256: {
      if (kind == password_kind::md5) return fail(errc::auth_unsupported);
      std::optional<scram_secret> secret;
      if (kind == password_kind::scram) {
        secret = parsed_ ? std::optional<scram_secret>(*parsed_) : parse_scram_secret(stored_);
      } else {
        std::uint8_t salt[scram_salt_len];
        if (!random_bytes(salt)) return fail(errc::crypto_failure);
        secret = make_scram_secret(
            stored_, std::string_view(reinterpret_cast<const char*>(salt), sizeof salt),
            scram_iterations_);
      }
      if (!secret || secret->iterations == 0) return fail(errc::crypto_failure);
      scram_.emplace(std::move(*secret), scram_nonce_);
      write_auth_sasl(out, {scram_mechanism});
      state_ = ca_want_sasl_initial;
      return send_and_wait(std::move(out));
    }
  }
  return fail(errc::auth_unsupported);
}

auth_step client_authenticator::resume(const frame& msg) {
  auto fail = [this](errc e) {
    state_ = ca_failed;
    return failed(e);
  };
  if (msg.tag != fe::password) return fail(errc::unexpected_message);
  // pgbouncer and PostgreSQL never let an empty stored password authenticate. The exchange
  // still runs to its end so the client cannot tell this from a wrong password.
  const bool never = stored_.empty();

  switch (state_) {
    case ca_want_password: {
      password_msg m;
      if (const errc e = decode(msg, m); e != errc::ok) return fail(e);
      if (never || m.password.empty()) return fail(errc::auth_failed);
      bool ok = false;
      switch (parsed_ ? password_kind::scram : classify_password(stored_)) {
        case password_kind::plain:
          ok = constant_time_equal(m.password, stored_);
          break;
        case password_kind::md5: {
          const std::string h = md5_password_hash(user_, m.password);
          if (h.empty()) return fail(errc::crypto_failure);
          ok = constant_time_equal(h, stored_);
          break;
        }
        case password_kind::scram: {
          const auto secret =
              parsed_ ? std::optional<scram_secret>(*parsed_) : parse_scram_secret(stored_);
          if (!secret) return fail(errc::bad_secret);
          const scram_secret derived =
              make_scram_secret(m.password, secret->salt, secret->iterations);
          if (derived.iterations == 0) return fail(errc::crypto_failure);
          // Both keys, without short-circuit, so the time does not say which one differed.
          const bool stored_ok =
              constant_time_equal(as_view(derived.stored_key), as_view(secret->stored_key));
          const bool server_ok =
              constant_time_equal(as_view(derived.server_key), as_view(secret->server_key));
          ok = stored_ok & server_ok;
          break;
        }
      }
      if (!ok) return fail(errc::auth_failed);
      state_ = ca_done;
      return done();
    }

    case ca_want_md5: {
      password_msg m;
      if (const errc e = decode(msg, m); e != errc::ok) return fail(e);
      const std::string hash = classify_password(stored_) == password_kind::md5
                                   ? stored_
                                   : md5_password_hash(user_, stored_);
      const std::string expected = hash.empty() ? std::string() : md5_salted_response(hash, salt_);
      // An empty expectation means OpenSSL failed; it must never match an empty answer.
      if (expected.empty()) return fail(errc::crypto_failure);
      if (never || !constant_time_equal(m.password, expected)) return fail(errc::auth_failed);
      state_ = ca_done;
      return done();
    }

    case ca_want_sasl_initial: {
      sasl_initial_response_msg m;
      if (const errc e = decode(msg, m); e != errc::ok) return fail(e);
      if (m.mechanism != scram_mechanism) return fail(errc::auth_unsupported);
      // PostgreSQL would answer a missing initial response with an empty challenge; libpq
      // always sends one, so we do not support that round trip.
      if (!m.data) return fail(errc::bad_field);
      std::string reply;
      const auth_step s = scram_->resume_raw(as_chars(*m.data), reply);
      if (s.what != auth_step::kind::send_and_wait) return fail(s.error);
      byte_buffer out;
      write_auth_sasl_continue(out, reply);
      state_ = ca_want_sasl_response;
      return send_and_wait(std::move(out));
    }

    case ca_want_sasl_response: {
      sasl_response_msg m;
      if (const errc e = decode(msg, m); e != errc::ok) return fail(e);
      std::string reply;
      const auth_step s = scram_->resume_raw(as_chars(m.data), reply);
      if (s.what != auth_step::kind::done) return fail(s.error);
      if (never) return fail(errc::auth_failed);
      byte_buffer out;
      write_auth_sasl_final(out, reply);
      state_ = ca_done;
      return done(std::move(out));
    }

    default:  // not started, or already finished
      return fail(errc::unexpected_message);
  }
}

}  // namespace pgwire
