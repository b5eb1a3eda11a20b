#pragma once
// Primitives shared by crypto.cpp and the auth_*.cpp files; internal to libpgwire, so not in
// crypto.hpp.

#include <span>
#include <string_view>

#include "pgwire/crypto.hpp"

namespace pgwire::detail {
bool valid_iterations(long n) noexcept;
bool sha256(std::span<const std::uint8_t> in, sha256_digest& out) noexcept;
bool hmac_sha256(std::span<const std::uint8_t> key, std::string_view data,
                 sha256_digest& out) noexcept;
bool salted_password(std::string_view password, std::string_view salt, int iterations,
                     sha256_digest& out) noexcept;
bool parse_iterations(std::string_view s, int& out) noexcept;
}  // namespace pgwire::detail
