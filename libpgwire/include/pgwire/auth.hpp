#pragma once
/// @file auth.hpp
/// Authentication as sans-io state machines. Each `resume()` takes the peer's next message
/// and says what to do: send these bytes and wait for the next message, succeed, or fail.
/// Both sides of PostgreSQL's cleartext, MD5 and SCRAM-SHA-256 exchanges are covered.
/// SCRAM-SHA-256-PLUS (channel binding) is not advertised.

#include <optional>
#include <string>
#include <string_view>

#include "pgwire/crypto.hpp"
#include "pgwire/errc.hpp"
#include "pgwire/framer.hpp"
#include "pgwire/writer.hpp"

namespace pgwire {

/// The keys a verified SCRAM client proved it holds. With them sluice can log in to a server
/// whose pg_authid holds the same secret without knowing the password (pass-through).
struct scram_keys {
  sha256_digest client_key{};
  sha256_digest server_key{};
};

struct auth_step {
  enum class kind { send_and_wait, done, failed };
  kind what = kind::failed;
  byte_buffer out;           ///< protocol messages to send now (may be empty)
  errc error = errc::ok;     ///< when failed
};

/// The server side of a SCRAM-SHA-256 exchange on raw SCRAM messages (RFC 5802 / 7677), as
/// PostgreSQL does it: no channel binding, the user name comes from the startup packet.
class scram_server {
 public:
  /// `nonce` is the server part of the nonce; empty = 18 random bytes, base64.
  explicit scram_server(scram_secret secret, std::string nonce = {});
  /// First call: client-first-message -> server-first-message. Second call:
  /// client-final-message -> server-final-message (done) or auth_failed.
  auth_step resume_raw(std::string_view client_message, std::string& reply);
  /// After a successful exchange: the ClientKey recovered from the proof, and ServerKey.
  const std::optional<scram_keys>& keys() const noexcept { return keys_; }

 private:
  scram_secret secret_;
  std::string nonce_;
  int state_ = 0;
  char cbind_flag_ = 'n';  ///< gs2 flag of client-first ('n' or 'y'); client-final's c= must match
  std::string client_first_bare_, server_first_, combined_nonce_;
  std::optional<scram_keys> keys_;
};

/// The client side of a SCRAM-SHA-256 exchange on raw SCRAM messages.
class scram_client {
 public:
  /// From a plaintext password.
  static scram_client with_password(std::string password, std::string nonce = {});
  /// From keys recovered by scram_server (pass-through).
  static scram_client with_keys(const scram_keys& keys, std::string nonce = {});
  /// "n,,n=,r=<nonce>". Empty if no nonce could be made (CSPRNG failure, or a given nonce
  /// that is not printable ASCII without ','); resume_raw then fails.
  std::string client_first();
  /// server-first -> client-final (send_and_wait); server-final -> done, or
  /// server_signature_mismatch / auth_failed.
  auth_step resume_raw(std::string_view server_message, std::string& reply);

 private:
  scram_client() = default;
  std::optional<std::string> password_;
  std::optional<scram_keys> keys_;
  std::string nonce_, client_first_bare_, auth_message_;
  sha256_digest server_key_{};
  int state_ = 0;
};

/// How a client must prove who it is (pgbouncer's auth_type, less the ones handled above:
/// trust/any never reach this).
enum class client_auth_method { cleartext, md5, scram_sha_256 };

/// sluice as the server, verifying a connecting client against a stored password (plaintext,
/// "md5..." or a SCRAM secret). Produces Authentication* messages; consumes the client's 'p'
/// messages. Does not write AuthenticationOk: the caller does, with the rest of the welcome.
/// md5 with a SCRAM secret stored switches to SCRAM, as PostgreSQL and pgbouncer do.
/// For SCRAM with a plaintext password stored, the secret is built here with a fresh salt
/// and `scram_iterations` PBKDF2 iterations (pgbouncer's setting; 1..10,000,000, else the
/// exchange fails with crypto_failure).
class client_authenticator {
 public:
  static constexpr int default_scram_iterations = 4096;  ///< PostgreSQL's and pgbouncer's
  /// `parsed`: `stored` already decoded, when it is a SCRAM secret the caller keeps decoded
  /// (the userlist's); it must outlive the authenticator.
  client_authenticator(client_auth_method method, std::string user, std::string stored,
                       std::string scram_nonce = {},
                       int scram_iterations = default_scram_iterations,
                       const scram_secret* parsed = nullptr);
  /// The first request to send (AuthenticationCleartextPassword / MD5Password / SASL).
  auth_step start();
  /// The client's next 'p' message.
  auth_step resume(const frame& msg);
  /// Set after a successful SCRAM exchange.
  const std::optional<scram_keys>& keys() const noexcept;
  /// The method asked of the client: the one given, or SCRAM where md5 meets a SCRAM secret
  /// (known once start() has run).
  client_auth_method method() const noexcept { return method_; }

 private:
  client_auth_method method_;
  std::string user_, stored_;
  std::uint8_t salt_[4] = {};
  std::optional<scram_server> scram_;
  std::string scram_nonce_;
  int scram_iterations_;
  const scram_secret* parsed_;
  int state_ = 0;
};

/// sluice as the client, logging in to PostgreSQL. Feed it every 'R' message the server sends;
/// it answers cleartext, MD5 and SCRAM-SHA-256 requests from a password (plaintext, md5 hash
/// or SCRAM secret, as auth_file stores it) or from pass-through SCRAM keys. A plaintext
/// password is preferred to keys. `done` means AuthenticationOk arrived. A request the
/// stored password cannot answer fails with the errc saying why (no_password,
/// password_is_md5_hash, password_is_scram_secret, scram_keys_unknown).
class server_authenticator {
 public:
  server_authenticator(std::string user, std::string password,
                       std::optional<scram_keys> keys = std::nullopt,
                       std::string scram_nonce = {});
  auth_step resume(const frame& msg);

 private:
  /// ok if password_ is plaintext; otherwise why cleartext/SCRAM-from-password cannot work.
  errc needs_plaintext(password_kind kind) const;
  std::string user_, password_;
  std::optional<scram_keys> keys_;
  std::string scram_nonce_;
  std::optional<scram_client> scram_;
  int state_ = 0;
};

}  // namespace pgwire
