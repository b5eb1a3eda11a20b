#include "pgwire/crypto.hpp"
#include "crypto_detail.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <climits>
#include <cstring>
#include <mutex>

namespace pgwire {

// The helpers declared in crypto_detail.hpp are shared with the auth_*.cpp files; they are
// not part of the library's contract, so they stay out of crypto.hpp.

// ---------------------------------------------------------------- randomness, comparison

namespace {

// Small draws (SCRAM nonces and salts, cancel keys: a few per login) come from a per-thread
// reserve filled 1 KiB at a time: every RAND_bytes call also asks the kernel for the process
// id (OpenSSL's fork check), one syscall per draw otherwise. Bytes are wiped from the
// reserve as they are handed out, and a fork empties the reserve in the child, whose copy
// of the forking thread's reserve would repeat the parent's bytes.
struct random_reserve {
  std::array<std::uint8_t, 1024> bytes;
  std::size_t left = 0;
  unsigned generation = 0;
};
constexpr std::size_t small_draw = 64;
std::atomic<unsigned> fork_generation{0};
thread_local random_reserve reserve;

bool draw_small(std::span<std::uint8_t> out) noexcept {
  static std::once_flag at_fork;
  std::call_once(at_fork, [] {
    ::pthread_atfork(nullptr, nullptr,
                     [] { fork_generation.fetch_add(1, std::memory_order_relaxed); });
  });
  random_reserve& r = reserve;
  const unsigned gen = fork_generation.load(std::memory_order_relaxed);
  if (r.generation != gen || r.left < out.size()) {
    if (RAND_bytes(r.bytes.data(), static_cast<int>(r.bytes.size())) != 1) return false;
    r.left = r.bytes.size();
    r.generation = gen;
  }
  std::uint8_t* from = r.bytes.data() + r.bytes.size() - r.left;
  std::memcpy(out.data(), from, out.size());
  OPENSSL_cleanse(from, out.size());
  r.left -= out.size();
  return true;
}

}  // namespace

bool random_bytes(std::span<std::uint8_t> out) noexcept {
  if (out.empty()) return true;
  if (out.size() <= small_draw) return draw_small(out);
  // RAND_bytes takes an int: feed large buffers in pieces rather than truncating the length.
  std::size_t pos = 0;
  while (pos < out.size()) {
    const std::size_t n = std::min<std::size_t>(out.size() - pos, INT_MAX);
    if (RAND_bytes(out.data() + pos, static_cast<int>(n)) != 1) return false;
    pos += n;
  }
  return true;
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// ---------------------------------------------------------------- base64

namespace {

constexpr char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The 6-bit value of a base64 character, or -1.
int b64_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

// Our own codec rather than EVP_EncodeBlock/EVP_DecodeBlock: the OpenSSL decoder skips
// whitespace, takes an int length and returns padding as zero bytes, so being strict on top
// of it would take as much code as this.
std::string base64_encode(std::span<const std::uint8_t> in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const std::uint32_t v =
        (std::uint32_t(in[i]) << 16) | (std::uint32_t(in[i + 1]) << 8) | in[i + 2];
    out.push_back(b64_alphabet[(v >> 18) & 63]);
    out.push_back(b64_alphabet[(v >> 12) & 63]);
    out.push_back(b64_alphabet[(v >> 6) & 63]);
    out.push_back(b64_alphabet[v & 63]);
  }
  const std::size_t left = in.size() - i;
  if (left == 1) {
    const std::uint32_t v = std::uint32_t(in[i]) << 16;
    out.push_back(b64_alphabet[(v >> 18) & 63]);
    out.push_back(b64_alphabet[(v >> 12) & 63]);
    out.append("==");
  } else if (left == 2) {
    const std::uint32_t v = (std::uint32_t(in[i]) << 16) | (std::uint32_t(in[i + 1]) << 8);
    out.push_back(b64_alphabet[(v >> 18) & 63]);
    out.push_back(b64_alphabet[(v >> 12) & 63]);
    out.push_back(b64_alphabet[(v >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

std::string base64_encode(std::string_view in) {
  return base64_encode(
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(in.data()), in.size()));
}

// Strict means: padded to a multiple of 4, only the alphabet, '=' only as the last one or two
// characters, and the bits the padding leaves over must be zero. That makes the encoding of
// any value unique, so decode(x) succeeding implies encode(decode(x)) == x.
std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    int pad = 0;
    if (last && in[i + 3] == '=') pad = in[i + 2] == '=' ? 2 : 1;
    int v[4] = {0, 0, 0, 0};
    for (int k = 0; k < 4 - pad; ++k) {
      v[k] = b64_value(in[i + static_cast<std::size_t>(k)]);
      if (v[k] < 0) return std::nullopt;
    }
    const std::uint32_t bits = (std::uint32_t(v[0]) << 18) | (std::uint32_t(v[1]) << 12) |
                               (std::uint32_t(v[2]) << 6) | std::uint32_t(v[3]);
    out.push_back(static_cast<char>((bits >> 16) & 0xff));
    if (pad == 2) {
      if ((bits & 0xffff) != 0) return std::nullopt;  // non-canonical leftover bits
      break;
    }
    out.push_back(static_cast<char>((bits >> 8) & 0xff));
    if (pad == 1) {
      if ((bits & 0xff) != 0) return std::nullopt;
      break;
    }
    out.push_back(static_cast<char>(bits & 0xff));
  }
  return out;
}

// ---------------------------------------------------------------- hashes

namespace {

/// OpenSSL 3's algorithms, fetched once per process: an HMAC() or EVP_sha256() call fetches
/// them by name from the provider store (a lookup under a lock) every time, which was a
/// visible part of a login's CPU. Never freed: they live as long as the process.
struct fetched_algorithms {
  EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_MD* md5 = EVP_MD_fetch(nullptr, "MD5", nullptr);  // null where a FIPS provider refuses it
  EVP_MAC* hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
};

const fetched_algorithms& algorithms() {
  static const fetched_algorithms a;
  return a;
}

/// An HMAC-SHA-256 context per thread, its digest set once; each use sets only the key.
struct hmac_context {
  EVP_MAC_CTX* ctx = nullptr;
  hmac_context() {
    if (!algorithms().hmac) return;
    ctx = EVP_MAC_CTX_new(algorithms().hmac);
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end()};
    if (ctx && EVP_MAC_CTX_set_params(ctx, params) != 1) {
      EVP_MAC_CTX_free(ctx);
      ctx = nullptr;
    }
  }
  ~hmac_context() { EVP_MAC_CTX_free(ctx); }
  hmac_context(const hmac_context&) = delete;
  hmac_context& operator=(const hmac_context&) = delete;
};

}  // namespace

namespace detail {

// 1 is the RFC minimum; beyond ten million PBKDF2 runs for seconds, which a server could use
// to stall us and nobody configures on purpose.
bool valid_iterations(long n) noexcept {
  return n >= 1 && n <= 10'000'000;
}

bool sha256(std::span<const std::uint8_t> in, sha256_digest& out) noexcept {
  const EVP_MD* md = algorithms().sha256;
  unsigned int len = 0;
  return md && EVP_Digest(in.data(), in.size(), out.data(), &len, md, nullptr) == 1 &&
         len == out.size();
}

bool hmac_sha256(std::span<const std::uint8_t> key, std::string_view data,
                 sha256_digest& out) noexcept {
  thread_local hmac_context h;
  if (!h.ctx) return false;
  // A null key pointer means "keep the previous key" to OpenSSL; never hand it one.
  static const std::uint8_t empty = 0;
  const std::uint8_t* k = key.empty() ? &empty : key.data();
  std::size_t len = 0;
  return EVP_MAC_init(h.ctx, k, key.size(), nullptr) == 1 &&
         EVP_MAC_update(h.ctx, reinterpret_cast<const unsigned char*>(data.data()),
                        data.size()) == 1 &&
         EVP_MAC_final(h.ctx, out.data(), &len, out.size()) == 1 && len == out.size();
}

bool salted_password(std::string_view password, std::string_view salt, int iterations,
                     sha256_digest& out) noexcept {
  if (!valid_iterations(iterations) || salt.empty() || password.size() > INT_MAX ||
      salt.size() > INT_MAX)
    return false;
  const EVP_MD* md = algorithms().sha256;
  return md && PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                                 reinterpret_cast<const unsigned char*>(salt.data()),
                                 static_cast<int>(salt.size()), iterations, md,
                                 static_cast<int>(out.size()), out.data()) == 1;
}

bool parse_iterations(std::string_view s, int& out) noexcept {
  // Digits only, no sign, no leading zero: one spelling per value, and nothing strtol would
  // quietly accept (whitespace, "+", overflow).
  if (s.empty() || s.size() > 8 || s[0] == '0') return false;
  long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (!valid_iterations(v)) return false;
  out = static_cast<int>(v);
  return true;
}

}  // namespace detail

namespace {

std::string hex_lower(const std::uint8_t* p, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  s.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    s.push_back(digits[p[i] >> 4]);
    s.push_back(digits[p[i] & 15]);
  }
  return s;
}

/// "md5" + hex(md5(data)); empty if OpenSSL refuses (e.g. MD5 disabled by a FIPS provider).
std::string md5_prefixed_hex(std::string_view data) {
  const EVP_MD* alg = algorithms().md5;
  std::uint8_t md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!alg || EVP_Digest(data.data(), data.size(), md, &len, alg, nullptr) != 1 || len != 16)
    return {};
  return "md5" + hex_lower(md, len);
}

bool is_lower_hex(std::string_view s) noexcept {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool decode_key(std::string_view b64, sha256_digest& out) {
  const auto raw = base64_decode(b64);
  if (!raw || raw->size() != out.size()) return false;
  std::memcpy(out.data(), raw->data(), out.size());
  return true;
}

}  // namespace

std::string md5_password_hash(std::string_view user, std::string_view password) {
  std::string buf;
  buf.reserve(password.size() + user.size());
  buf.append(password).append(user);
  return md5_prefixed_hex(buf);
}

// A hash without the "md5" prefix is taken as the bare hex part.
std::string md5_salted_response(std::string_view md5_hash, const std::uint8_t salt[4]) {
  if (md5_hash.starts_with("md5")) md5_hash.remove_prefix(3);
  std::string buf(md5_hash);
  buf.append(reinterpret_cast<const char*>(salt), 4);
  return md5_prefixed_hex(buf);
}

// ---------------------------------------------------------------- SCRAM secrets

std::optional<scram_secret> parse_scram_secret(std::string_view text) {
  constexpr std::string_view prefix = "SCRAM-SHA-256$";
  if (!text.starts_with(prefix)) return std::nullopt;
  text.remove_prefix(prefix.size());

  const auto colon1 = text.find(':');
  if (colon1 == std::string_view::npos) return std::nullopt;
  const auto dollar = text.find('$', colon1 + 1);
  if (dollar == std::string_view::npos) return std::nullopt;
  const auto colon2 = text.find(':', dollar + 1);
  if (colon2 == std::string_view::npos) return std::nullopt;

  scram_secret s;
  if (!detail::parse_iterations(text.substr(0, colon1), s.iterations)) return std::nullopt;
  // Stray separators inside a field are caught by the strict base64 decoder.
  auto salt = base64_decode(text.substr(colon1 + 1, dollar - colon1 - 1));
  if (!salt || salt->empty()) return std::nullopt;
  s.salt = std::move(*salt);
  if (!decode_key(text.substr(dollar + 1, colon2 - dollar - 1), s.stored_key)) return std::nullopt;
  if (!decode_key(text.substr(colon2 + 1), s.server_key)) return std::nullopt;
  return s;
}

std::string format_scram_secret(const scram_secret& s) {
  return "SCRAM-SHA-256$" + std::to_string(s.iterations) + ":" + base64_encode(s.salt) + "$" +
         base64_encode(s.stored_key) + ":" + base64_encode(s.server_key);
}

// On failure (iterations outside 1..10,000,000, empty salt, OpenSSL error) the result has
// iterations == 0, which parse_scram_secret and scram_server both refuse. The password is
// used as is, without SASLprep: for ASCII passwords that is what PostgreSQL does too.
scram_secret make_scram_secret(std::string_view password, std::string_view salt, int iterations) {
  scram_secret s;
  sha256_digest salted{}, client_key{};
  if (!detail::salted_password(password, salt, iterations, salted) ||
      !detail::hmac_sha256(salted, "Client Key", client_key) ||
      !detail::sha256(client_key, s.stored_key) ||
      !detail::hmac_sha256(salted, "Server Key", s.server_key)) {
    OPENSSL_cleanse(salted.data(), salted.size());
    return scram_secret{};
  }
  OPENSSL_cleanse(salted.data(), salted.size());
  OPENSSL_cleanse(client_key.data(), client_key.size());
  s.salt = std::string(salt);
  s.iterations = iterations;
  return s;
}

password_kind classify_password(std::string_view stored) noexcept {
  if (stored.size() == 35 && stored.starts_with("md5") && is_lower_hex(stored.substr(3)))
    return password_kind::md5;
  if (stored.starts_with("SCRAM-SHA-256$") && parse_scram_secret(stored))
    return password_kind::scram;
  return password_kind::plain;
}

}  // namespace pgwire
