// Server-facing authentication: sluice as the client, logging in to PostgreSQL
// (server_authenticator: answers cleartext, MD5 and SCRAM-SHA-256 requests), and the client
// side of SCRAM that it runs (scram_client). Verifying sluice's own clients is in
// auth_client_facing.cpp.
#include "pgwire/auth.hpp"
#include "auth_detail.hpp"
#include "crypto_detail.hpp"

#include <algorithm>
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

// ================================================================ scram_client

namespace {
enum scram_client_state {
  sc_new = 0,
  sc_want_server_first,
  sc_want_server_final,
  sc_done,
  sc_failed
};
}

scram_client scram_client::with_password(std::string password, std::string nonce) {
  scram_client c;
  // Used as is, without SASLprep (RFC 4013). For ASCII passwords that changes nothing; for
  // others PostgreSQL's own normalization may differ, and such passwords may not work.
  c.password_ = std::move(password);
  c.nonce_ = std::move(nonce);
  return c;
}

scram_client scram_client::with_keys(const scram_keys& keys, std::string nonce) {
  scram_client c;
  c.keys_ = keys;
  c.nonce_ = std::move(nonce);
  return c;
}

std::string scram_client::client_first() {
  if (state_ == sc_new) {
    if (nonce_.empty()) nonce_ = random_nonce();
    if (!valid_nonce(nonce_)) {
      state_ = sc_failed;
      return {};
    }
    // PostgreSQL ignores the SCRAM user name (it has the startup packet's), so send none.
    client_first_bare_ = "n=,r=" + nonce_;
    state_ = sc_want_server_first;
  }
  if (client_first_bare_.empty()) return {};
  return "n,," + client_first_bare_;
}

auth_step scram_client::resume_raw(std::string_view msg, std::string& reply) {
  reply.clear();
  auto fail = [this](errc e) {
    state_ = sc_failed;
    return failed(e);
  };
  if (state_ != sc_want_server_first && state_ != sc_want_server_final)
    return fail(errc::unexpected_message);
  if (msg.find('\0') != std::string_view::npos) return fail(errc::bad_field);
  const auto f = split_fields(msg);

  if (state_ == sc_want_server_first) {
    // server-first: "r=" nonce "," "s=" salt "," "i=" iterations ["," extensions]
    if (!f.empty() && f[0].starts_with("m=")) return fail(errc::auth_unsupported);
    if (f.size() < 3) return fail(errc::bad_field);
    std::string_view nonce, salt_b64, iter_text;
    if (!attr(f[0], 'r', nonce) || !attr(f[1], 's', salt_b64) || !attr(f[2], 'i', iter_text))
      return fail(errc::bad_field);
    for (std::size_t i = 3; i < f.size(); ++i)
      if (!extension(f[i])) return fail(errc::bad_field);
    // The server must extend our nonce, not replace it: otherwise this could be a replay.
    if (!valid_nonce(nonce) || nonce.size() <= nonce_.size() || !nonce.starts_with(nonce_))
      return fail(errc::bad_field);
    const auto salt = base64_decode(salt_b64);
    if (!salt || salt->empty()) return fail(errc::bad_field);
    int iterations = 0;
    if (!detail::parse_iterations(iter_text, iterations)) return fail(errc::bad_field);

    sha256_digest salted{}, client_key{}, stored_key{}, client_signature{}, proof{};
    key_wiper wipe(salted, client_key, stored_key, client_signature, proof);
    if (keys_) {
      // Pass-through: the keys stand for the password, but only for the salt and iteration
      // count of the secret they came from. A server with another secret rejects the proof.
      client_key = keys_->client_key;
      server_key_ = keys_->server_key;
    } else if (password_) {
      if (iterations > max_server_scram_iterations) return fail(errc::scram_iterations_too_many);
      if (!detail::salted_password(*password_, *salt, iterations, salted) ||
          !detail::hmac_sha256(salted, "Client Key", client_key) ||
          !detail::hmac_sha256(salted, "Server Key", server_key_))
        return fail(errc::crypto_failure);
    } else {
      return fail(errc::auth_unsupported);  // unreachable through the factories
    }
    if (!detail::sha256(client_key, stored_key)) return fail(errc::crypto_failure);

    // Without channel binding: c = base64("n,,") = "biws".
    const std::string without_proof = "c=biws,r=" + std::string(nonce);
    auth_message_ = client_first_bare_ + "," + std::string(msg) + "," + without_proof;
    if (!detail::hmac_sha256(stored_key, auth_message_, client_signature))
      return fail(errc::crypto_failure);
    for (std::size_t i = 0; i < proof.size(); ++i)
      proof[i] = static_cast<std::uint8_t>(client_key[i] ^ client_signature[i]);
    reply = without_proof + ",p=" + base64_encode(proof);
    state_ = sc_want_server_final;
    return send_and_wait();
  }

  // server-final: ("e=" error / "v=" signature) ["," extensions]
  if (f[0].starts_with("e=")) return fail(errc::auth_failed);
  std::string_view sig_b64;
  if (!attr(f[0], 'v', sig_b64)) return fail(errc::bad_field);
  for (std::size_t i = 1; i < f.size(); ++i)
    if (!extension(f[i])) return fail(errc::bad_field);
  sha256_digest sig{}, expected{};
  if (!decode_digest(sig_b64, sig)) return fail(errc::bad_field);
  if (!detail::hmac_sha256(server_key_, auth_message_, expected)) return fail(errc::crypto_failure);
  if (!constant_time_equal(as_view(sig), as_view(expected)))
    return fail(errc::server_signature_mismatch);
  state_ = sc_done;
  return done();
}

// ================================================================ server_authenticator

namespace {
enum server_auth_state {
  sa_new = 0,
  sa_password_sent,  // cleartext or md5 answered; AuthenticationOk next
  sa_sasl_started,   // client-first sent; SASLContinue next
  sa_sasl_answered,  // client-final sent; SASLFinal next
  sa_sasl_verified,  // server signature checked; AuthenticationOk next
  sa_done,
  sa_failed,
};
}

server_authenticator::server_authenticator(std::string user, std::string password,
                                           std::optional<scram_keys> keys, std::string scram_nonce)
    : user_(std::move(user)),
      password_(std::move(password)),
      keys_(std::move(keys)),
      scram_nonce_(std::move(scram_nonce)) {}

errc server_authenticator::needs_plaintext(password_kind kind) const {
  if (password_.empty()) return keys_ ? errc::password_is_scram_secret : errc::no_password;
  if (kind == password_kind::md5) return errc::password_is_md5_hash;
  if (kind == password_kind::scram) return errc::password_is_scram_secret;
  return errc::ok;
}

auth_step server_authenticator::resume(const frame& msg) {
  auto fail = [this](errc e) {
    state_ = sa_failed;
    return failed(e);
  };
  if (state_ == sa_done || state_ == sa_failed) return fail(errc::unexpected_message);
  // ErrorResponse included: the caller reads the server's error itself.
  if (msg.tag != be::authentication) return fail(errc::unexpected_message);
  authentication_msg m;
  if (const errc e = decode(msg, m); e != errc::ok) return fail(e);
  const password_kind kind = classify_password(password_);

  switch (m.code) {
    case auth_code::ok:
      // Ok in the middle of SCRAM would skip the server's proof that it knows the secret:
      // refuse it, as a man in the middle could send exactly that.
      if (state_ == sa_sasl_started || state_ == sa_sasl_answered)
        return fail(errc::unexpected_message);
      state_ = sa_done;
      return done();

    case auth_code::cleartext: {
      if (state_ != sa_new) return fail(errc::unexpected_message);
      // Sending a stored hash as a "password" would leak it and could not work anyway.
      if (const errc e = needs_plaintext(kind); e != errc::ok) return fail(e);
      byte_buffer out;
      write_password(out, password_);
      state_ = sa_password_sent;
      return send_and_wait(std::move(out));
    }

    case auth_code::md5: {
      if (state_ != sa_new) return fail(errc::unexpected_message);
      if (password_.empty()) return fail(keys_ ? errc::password_is_scram_secret : errc::no_password);
      if (kind == password_kind::scram) return fail(errc::password_is_scram_secret);
      const std::string hash =
          kind == password_kind::md5 ? password_ : md5_password_hash(user_, password_);
      const std::string answer =
          hash.empty() ? std::string() : md5_salted_response(hash, m.md5_salt);
      if (answer.empty()) return fail(errc::crypto_failure);
      byte_buffer out;
      write_password(out, answer);
      state_ = sa_password_sent;
      return send_and_wait(std::move(out));
    }

    case auth_code::sasl: {
      if (state_ != sa_new) return fail(errc::unexpected_message);
      if (std::find(m.mechanisms.begin(), m.mechanisms.end(), scram_mechanism) ==
          m.mechanisms.end())
        return fail(errc::auth_unsupported);
      // A plaintext password computes the proof with this server's salt and iteration count;
      // keys recovered from a client fit only the secret they came from, so they are the
      // fallback for a stored SCRAM secret, never a substitute for a known password.
      if (!password_.empty() && kind == password_kind::plain)
        scram_.emplace(scram_client::with_password(password_, scram_nonce_));
      else if (keys_)
        scram_.emplace(scram_client::with_keys(*keys_, scram_nonce_));
      else if (kind == password_kind::md5)
        return fail(errc::password_is_md5_hash);
      else if (kind == password_kind::scram)
        return fail(errc::scram_keys_unknown);  // a secret alone cannot compute a proof
      else
        return fail(errc::no_password);
      const std::string first = scram_->client_first();
      if (first.empty()) return fail(scram_nonce_.empty() ? errc::crypto_failure : errc::bad_field);
      byte_buffer out;
      write_sasl_initial_response(out, scram_mechanism, first);
      state_ = sa_sasl_started;
      return send_and_wait(std::move(out));
    }

    case auth_code::sasl_continue: {
      if (state_ != sa_sasl_started) return fail(errc::unexpected_message);
      std::string reply;
      const auth_step s = scram_->resume_raw(as_chars(m.data), reply);
      if (s.what != auth_step::kind::send_and_wait) return fail(s.error);
      byte_buffer out;
      write_sasl_response(out, reply);
      state_ = sa_sasl_answered;
      return send_and_wait(std::move(out));
    }

    case auth_code::sasl_final: {
      if (state_ != sa_sasl_answered) return fail(errc::unexpected_message);
      std::string reply;
      const auth_step s = scram_->resume_raw(as_chars(m.data), reply);
      if (s.what != auth_step::kind::done) return fail(s.error);
      state_ = sa_sasl_verified;
      return send_and_wait();  // nothing to send; AuthenticationOk comes next
    }

    case auth_code::kerberos_v5:
    case auth_code::gss:
    case auth_code::gss_continue:
    case auth_code::sspi:
      return fail(errc::auth_unsupported);
  }
  return fail(errc::auth_unsupported);
}

}  // namespace pgwire
