#include "pgwire/auth.hpp"
#include "crypto_detail.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <vector>

#include "pgwire/messages.hpp"

namespace pgwire {


namespace {

constexpr std::string_view scram_mechanism = "SCRAM-SHA-256";
constexpr std::size_t scram_raw_nonce_len = 18;  // PostgreSQL's SCRAM_RAW_NONCE_LEN
constexpr std::size_t scram_salt_len = 16;       // PostgreSQL's SCRAM_DEFAULT_SALT_LEN
constexpr int scram_default_iterations = 4096;   // PostgreSQL's default scram_iterations

auth_step make_step(auth_step::kind k, byte_buffer out = {}, errc e = errc::ok) {
  auth_step s;
  s.what = k;
  s.out = std::move(out);
  s.error = e;
  return s;
}
auth_step failed(errc e) {
  return make_step(auth_step::kind::failed, {}, e);
}
auth_step send_and_wait(byte_buffer out = {}) {
  return make_step(auth_step::kind::send_and_wait, std::move(out));
}
auth_step done(byte_buffer out = {}) {
  return make_step(auth_step::kind::done, std::move(out));
}

std::string_view as_chars(bytes_view b) noexcept {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

/// RFC 5802 "printable": %x21-2B / %x2D-7E, i.e. visible ASCII without ','.
bool valid_nonce(std::string_view n) noexcept {
  if (n.empty()) return false;
  return std::all_of(n.begin(), n.end(), [](char c) { return c >= 0x21 && c <= 0x7e && c != ','; });
}

std::string random_nonce() {
  std::uint8_t raw[scram_raw_nonce_len];
  if (!random_bytes(raw)) return {};
  std::string n = base64_encode(std::span<const std::uint8_t>(raw));
  OPENSSL_cleanse(raw, sizeof raw);
  return n;
}

/// The comma-separated attributes of a SCRAM message. A trailing or doubled comma yields an
/// empty field, which no attribute check accepts.
std::vector<std::string_view> split_fields(std::string_view msg) {
  std::vector<std::string_view> f;
  for (;;) {
    const auto comma = msg.find(',');
    f.push_back(msg.substr(0, comma));
    if (comma == std::string_view::npos) break;
    msg.remove_prefix(comma + 1);
  }
  return f;
}

/// "<name>=<value>" -> value.
bool attr(std::string_view field, char name, std::string_view& value) noexcept {
  if (field.size() < 2 || field[0] != name || field[1] != '=') return false;
  value = field.substr(2);
  return true;
}

/// An RFC 5802 extension attribute: a letter, '=', anything. Skipped, as PostgreSQL does.
bool extension(std::string_view field) noexcept {
  if (field.size() < 2 || field[1] != '=') return false;
  const char c = field[0];
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool decode_digest(std::string_view b64, sha256_digest& out) {
  const auto raw = base64_decode(b64);
  if (!raw || raw->size() != out.size()) return false;
  std::copy(raw->begin(), raw->end(), out.begin());
  return true;
}

std::string_view as_view(const sha256_digest& d) noexcept {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

/// Zeroes key material on every way out of a scope.
class key_wiper {
 public:
  template <class... D>
  explicit key_wiper(D&... d) noexcept : keys_{&d...}, n_(sizeof...(D)) {
    static_assert(sizeof...(D) <= max_keys);
  }
  ~key_wiper() {
    for (std::size_t i = 0; i < n_; ++i) OPENSSL_cleanse(keys_[i]->data(), keys_[i]->size());
  }
  key_wiper(const key_wiper&) = delete;
  key_wiper& operator=(const key_wiper&) = delete;

 private:
  static constexpr std::size_t max_keys = 6;
  sha256_digest* keys_[max_keys];
  std::size_t n_;
};

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
                                           std::string stored, std::string scram_nonce)
    : method_(method),
      user_(std::move(user)),
      stored_(std::move(stored)),
      scram_nonce_(std::move(scram_nonce)) {}

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
  const password_kind kind = classify_password(stored_);
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
        secret = parse_scram_secret(stored_);
      } else {
        std::uint8_t salt[scram_salt_len];
        if (!random_bytes(salt)) return fail(errc::crypto_failure);
        secret = make_scram_secret(
            stored_, std::string_view(reinterpret_cast<const char*>(salt), sizeof salt),
            scram_default_iterations);
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
      switch (classify_password(stored_)) {
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
          const auto secret = parse_scram_secret(stored_);
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
      if (password_.empty() || kind != password_kind::plain) return fail(errc::auth_unsupported);
      byte_buffer out;
      write_password(out, password_);
      state_ = sa_password_sent;
      return send_and_wait(std::move(out));
    }

    case auth_code::md5: {
      if (state_ != sa_new) return fail(errc::unexpected_message);
      if (password_.empty() || kind == password_kind::scram) return fail(errc::auth_unsupported);
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
      if (keys_)
        scram_.emplace(scram_client::with_keys(*keys_, scram_nonce_));
      else if (!password_.empty() && kind == password_kind::plain)
        scram_.emplace(scram_client::with_password(password_, scram_nonce_));
      else
        return fail(errc::auth_unsupported);  // a stored secret alone cannot compute a proof
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
