#pragma once
// SCRAM message parsing, nonces and auth_step helpers shared by auth_client_facing.cpp and
// auth_server_facing.cpp; internal to libpgwire, so not in auth.hpp.

#include <openssl/crypto.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pgwire/auth.hpp"
#include "pgwire/crypto.hpp"

namespace pgwire::detail {

inline constexpr std::string_view scram_mechanism = "SCRAM-SHA-256";
inline constexpr std::size_t scram_raw_nonce_len = 18;  // PostgreSQL's SCRAM_RAW_NONCE_LEN

inline auth_step make_step(auth_step::kind k, byte_buffer out = {}, errc e = errc::ok) {
  auth_step s;
  s.what = k;
  s.out = std::move(out);
  s.error = e;
  return s;
}
inline auth_step failed(errc e) {
  return make_step(auth_step::kind::failed, {}, e);
}
inline auth_step send_and_wait(byte_buffer out = {}) {
  return make_step(auth_step::kind::send_and_wait, std::move(out));
}
inline auth_step done(byte_buffer out = {}) {
  return make_step(auth_step::kind::done, std::move(out));
}

inline std::string_view as_chars(bytes_view b) noexcept {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

/// RFC 5802 "printable": %x21-2B / %x2D-7E, i.e. visible ASCII without ','.
inline bool valid_nonce(std::string_view n) noexcept {
  if (n.empty()) return false;
  return std::all_of(n.begin(), n.end(), [](char c) { return c >= 0x21 && c <= 0x7e && c != ','; });
}

inline std::string random_nonce() {
  std::uint8_t raw[scram_raw_nonce_len];
  if (!random_bytes(raw)) return {};
  std::string n = base64_encode(std::span<const std::uint8_t>(raw));
  OPENSSL_cleanse(raw, sizeof raw);
  return n;
}

/// The comma-separated attributes of a SCRAM message. A trailing or doubled comma yields an
/// empty field, which no attribute check accepts.
inline std::vector<std::string_view> split_fields(std::string_view msg) {
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
inline bool attr(std::string_view field, char name, std::string_view& value) noexcept {
  if (field.size() < 2 || field[0] != name || field[1] != '=') return false;
  value = field.substr(2);
  return true;
}

/// An RFC 5802 extension attribute: a letter, '=', anything. Skipped, as PostgreSQL does.
inline bool extension(std::string_view field) noexcept {
  if (field.size() < 2 || field[1] != '=') return false;
  const char c = field[0];
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

inline bool decode_digest(std::string_view b64, sha256_digest& out) {
  const auto raw = base64_decode(b64);
  if (!raw || raw->size() != out.size()) return false;
  std::copy(raw->begin(), raw->end(), out.begin());
  return true;
}

inline std::string_view as_view(const sha256_digest& d) noexcept {
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

}  // namespace pgwire::detail
