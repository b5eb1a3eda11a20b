#pragma once
/// @file crypto.hpp
/// The primitives authentication needs, on top of OpenSSL: MD5 password hashes, SCRAM-SHA-256
/// secrets, base64, randomness and constant-time comparison.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace pgwire {

using sha256_digest = std::array<std::uint8_t, 32>;

/// Fills `out` from OpenSSL's CSPRNG; false if it fails (then `out` must not be used).
bool random_bytes(std::span<std::uint8_t> out) noexcept;

/// Compares in time that depends only on the lengths.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

std::string base64_encode(std::span<const std::uint8_t> in);
std::string base64_encode(std::string_view in);
/// Strict decoding: nullopt on any character outside the alphabet or bad padding.
std::optional<std::string> base64_decode(std::string_view in);

/// "md5" + hex(md5(password + user)), as stored in pg_authid and userlist.txt.
std::string md5_password_hash(std::string_view user, std::string_view password);
/// The client's answer to AuthenticationMD5Password: "md5" + hex(md5(hex_part(hash) + salt)),
/// where `md5_hash` is the stored "md5..." string.
std::string md5_salted_response(std::string_view md5_hash, const std::uint8_t salt[4]);

/// A SCRAM-SHA-256 secret: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
struct scram_secret {
  int iterations = 0;
  std::string salt;  ///< raw bytes (decoded)
  sha256_digest stored_key{};
  sha256_digest server_key{};
};
std::optional<scram_secret> parse_scram_secret(std::string_view text);
std::string format_scram_secret(const scram_secret& s);
/// Derives the secret PostgreSQL would store for `password` with this salt and iteration count.
scram_secret make_scram_secret(std::string_view password, std::string_view salt, int iterations);

/// How a stored password (userlist.txt, [databases] password=) is written.
enum class password_kind { plain, md5, scram };
password_kind classify_password(std::string_view stored) noexcept;

}  // namespace pgwire
