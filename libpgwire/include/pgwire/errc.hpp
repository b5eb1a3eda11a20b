#pragma once
/// @file errc.hpp
/// The error codes of libpgwire and their boost::system category.

#include <boost/system/error_code.hpp>

namespace pgwire {

/// Everything that can go wrong while decoding or authenticating. Never thrown on the data path.
enum class errc {
  ok = 0,
  length_too_small,       ///< declared message length below 4 (or below 8 for startup packets)
  length_too_large,       ///< declared length above the configured maximum
  truncated,              ///< message body ended before a field did
  trailing_bytes,         ///< message body has bytes after its last field
  bad_field,              ///< a field holds a value outside its domain
  unsupported_protocol,   ///< startup packet with a protocol version we do not speak
  unexpected_message,     ///< a valid message that makes no sense in the current state
  auth_failed,            ///< the peer's proof or password does not match
  auth_unsupported,       ///< the peer asked for an authentication method we cannot do
  bad_secret,             ///< a stored secret (md5 / SCRAM) is malformed
  server_signature_mismatch,  ///< the server's SCRAM signature does not verify
  crypto_failure,         ///< OpenSSL refused an operation
  // Logging in to a server with what is stored: why a request cannot be answered.
  no_password,               ///< the server asks for a password and none is configured
  password_is_md5_hash,      ///< cleartext or SCRAM asked for, only an MD5 hash stored
  password_is_scram_secret,  ///< cleartext or MD5 asked for, only a SCRAM secret stored
  scram_keys_unknown,        ///< a SCRAM secret stored, but no client has supplied its keys
  scram_iterations_too_many, ///< a server's SCRAM iteration count above max_server_scram_iterations
};

/// The most PBKDF2 iterations a server may ask sluice to compute for its SCRAM login (with a
/// plaintext password; pass-through keys compute none). The key derivation cannot be cut
/// short and runs on a shard's thread, so a larger count from a hostile or broken server would
/// stall every client of that shard. PostgreSQL's default is 4096; libpq, pgjdbc and
/// rust-postgres cap the count at the same 100,000.
inline constexpr int max_server_scram_iterations = 100000;

/// The category every pgwire::errc belongs to.
const boost::system::error_category& category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

}  // namespace pgwire

template <>
struct boost::system::is_error_code_enum<pgwire::errc> : std::true_type {};
