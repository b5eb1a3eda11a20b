#include "net/tls.hpp"

#include "sluice/config.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace sluice::net {

namespace {

/// OpenSSL's error queue as one line, emptied.
std::string openssl_errors() {
  std::string out;
  char buf[256];
  while (const unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out.append("; ");
    out.append(buf);
  }
  return out.empty() ? std::string("unknown TLS error") : out;
}

int version_of(std::string_view name) {
  if (name == "tlsv1.0" || name == "tlsv1") return TLS1_VERSION;
  if (name == "tlsv1.1") return TLS1_1_VERSION;
  if (name == "tlsv1.2") return TLS1_2_VERSION;
  if (name == "tlsv1.3") return TLS1_3_VERSION;
  return 0;
}

/// pgbouncer's tls_protocols: "secure", "all"/"legacy", or a list of versions without gaps.
std::pair<int, int> protocol_range(const std::string& spec) {
  if (spec == "secure" || spec.empty()) return {TLS1_2_VERSION, TLS1_3_VERSION};
  if (spec == "all" || spec == "legacy") return {TLS1_VERSION, TLS1_3_VERSION};
  int lo = 0, hi = 0;
  std::vector<int> seen;
  std::size_t at = 0;
  while (at <= spec.size()) {
    std::size_t end = spec.find_first_of(", ", at);
    if (end == std::string::npos) end = spec.size();
    const std::string_view word(spec.data() + at, end - at);
    at = end + 1;
    if (word.empty()) continue;
    const int v = version_of(word);
    if (!v) throw std::runtime_error(fmt::format("unknown TLS protocol \"{}\"", word));
    seen.push_back(v);
    lo = lo ? std::min(lo, v) : v;
    hi = std::max(hi, v);
  }
  if (!lo) throw std::runtime_error("no TLS protocol given");
  for (int v = lo; v <= hi; ++v)
    if (std::find(seen.begin(), seen.end(), v) == seen.end())
      throw std::runtime_error(fmt::format("TLS protocols \"{}\" leave a gap", spec));
  return {lo, hi};
}

}  // namespace

tls_context::tls_context(role r, const tls_settings& s) : role_(r) {
  const std::string& mode = s.sslmode;
  verify_ = mode == "verify-ca" || mode == "verify-full";
  required_ = verify_ || mode == "require";
  verify_host_ = mode == "verify-full";
  ctx_ = SSL_CTX_new(r == role::accept ? TLS_server_method() : TLS_client_method());
  if (!ctx_) throw std::runtime_error(openssl_errors());
  try {
    const auto [lo, hi] = protocol_range(s.protocols);
    SSL_CTX_set_min_proto_version(ctx_, lo);
    SSL_CTX_set_max_proto_version(ctx_, hi);
    // Renegotiation and compression are off: neither is safe, PostgreSQL allows neither.
    SSL_CTX_set_options(ctx_, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    // The relay writes what it has as the socket allows: a partial record write is fine.
    // OpenSSL's record buffers are let go between records: an idle client costs less.
    SSL_CTX_set_mode(ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                               SSL_MODE_RELEASE_BUFFERS);
    if (s.ciphers != "default" && !s.ciphers.empty() &&
        SSL_CTX_set_cipher_list(ctx_, s.ciphers.c_str()) != 1)
      throw std::runtime_error(fmt::format("ciphers \"{}\": {}", s.ciphers, openssl_errors()));
    if (!s.tls13_ciphers.empty() && SSL_CTX_set_ciphersuites(ctx_, s.tls13_ciphers.c_str()) != 1)
      throw std::runtime_error(
          fmt::format("tls13_ciphers \"{}\": failed to set the TLSv1.3 cipher suites: {}",
                      s.tls13_ciphers, openssl_errors()));
    if (s.ecdhcurve != "auto" && !s.ecdhcurve.empty() &&
        SSL_CTX_set1_groups_list(ctx_, s.ecdhcurve.c_str()) != 1)
      throw std::runtime_error(fmt::format("ecdhcurve \"{}\": {}", s.ecdhcurve, openssl_errors()));
    if (s.dheparams == "auto" || s.dheparams == "legacy") {
      SSL_CTX_set_dh_auto(ctx_, 1);
    } else if (s.dheparams != "none") {
      throw std::runtime_error(
          fmt::format("dheparams \"{}\": expected auto, legacy or none", s.dheparams));
    }
    if (!s.cert_file.empty() &&
        SSL_CTX_use_certificate_chain_file(ctx_, s.cert_file.c_str()) != 1)
      throw std::runtime_error(fmt::format("cert_file {}: {}", s.cert_file, openssl_errors()));
    if (!s.key_file.empty() &&
        SSL_CTX_use_PrivateKey_file(ctx_, s.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
      throw std::runtime_error(fmt::format("key_file {}: {}", s.key_file, openssl_errors()));
    if (!s.cert_file.empty() && !s.key_file.empty() && SSL_CTX_check_private_key(ctx_) != 1)
      throw std::runtime_error(fmt::format("key_file {} does not match cert_file {}", s.key_file,
                                           s.cert_file));
    if (r == role::accept && (s.cert_file.empty() || s.key_file.empty()) && mode != "disable")
      throw std::runtime_error("sslmode " + mode + " needs key_file and cert_file");
    if (!s.ca_file.empty() && SSL_CTX_load_verify_locations(ctx_, s.ca_file.c_str(), nullptr) != 1)
      throw std::runtime_error(fmt::format("ca_file {}: {}", s.ca_file, openssl_errors()));
    if (verify_ && s.ca_file.empty()) {
      // Verifying a server without a ca_file trusts the system's CA store (as pgbouncer and
      // libpq's sslrootcert=system); a client certificate needs a CA of the operator's own.
      if (r == role::accept) throw std::runtime_error("sslmode " + mode + " needs ca_file");
      if (SSL_CTX_set_default_verify_paths(ctx_) != 1)
        throw std::runtime_error(fmt::format("the system CA store: {}", openssl_errors()));
    }
    if (r == role::connect) {
      SSL_CTX_set_verify(ctx_, verify_ ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    } else if (!s.ca_file.empty()) {
      // As pgbouncer: with a CA, client certificates are asked for; verify-ca and verify-full
      // make one mandatory.
      SSL_CTX_set_verify(ctx_,
                         SSL_VERIFY_PEER | (verify_ ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), nullptr);
      SSL_CTX_set_session_id_context(ctx_, reinterpret_cast<const unsigned char*>("sluice"), 6);
    }
  } catch (...) {
    SSL_CTX_free(ctx_);
    throw;
  }
}

tls_context::~tls_context() { SSL_CTX_free(ctx_); }

// ---------------------------------------------------------------------------- tls_engine

tls_engine::tls_engine(std::shared_ptr<const tls_context> ctx, std::string_view host)
    : ctx_(std::move(ctx)) {
  ssl_ = SSL_new(ctx_->native());
  if (!ssl_) throw std::runtime_error(openssl_errors());
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (!in || !out) {
    BIO_free(in);
    BIO_free(out);
    SSL_free(ssl_);
    throw std::runtime_error(openssl_errors());
  }
  // An empty memory BIO means "no data yet", not end of file.
  BIO_set_mem_eof_return(in, -1);
  SSL_set_bio(ssl_, in, out);
  if (ctx_->side() == tls_context::role::accept) {
    SSL_set_accept_state(ssl_);
    return;
  }
  SSL_set_connect_state(ssl_);
  if (!host.empty()) {
    const std::string h(host);
    // SNI only for names, as libpq does; verify-full checks names and IP addresses alike.
    const bool numeric = h.find_first_not_of("0123456789.") == std::string::npos ||
                         h.find(':') != std::string::npos;
    if (!numeric) SSL_set_tlsext_host_name(ssl_, h.c_str());
    if (ctx_->verifies_host()) {
      if (numeric) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), h.c_str());
      } else {
        SSL_set1_host(ssl_, h.c_str());
      }
    }
  }
}

tls_engine::~tls_engine() { SSL_free(ssl_); }

tls_engine::tls_engine(tls_engine&& o) noexcept
    : ctx_(std::move(o.ctx_)),
      ssl_(std::exchange(o.ssl_, nullptr)),
      out_(std::move(o.out_)),
      error_(std::move(o.error_)),
      starved_(o.starved_) {}

tls_engine& tls_engine::operator=(tls_engine&& o) noexcept {
  if (this != &o) {
    SSL_free(ssl_);
    ctx_ = std::move(o.ctx_);
    ssl_ = std::exchange(o.ssl_, nullptr);
    out_ = std::move(o.out_);
    error_ = std::move(o.error_);
    starved_ = o.starved_;
  }
  return *this;
}

void tls_engine::feed(std::span<const std::uint8_t> ciphertext) {
  starved_ = false;
  if (!ciphertext.empty())
    BIO_write(SSL_get_rbio(ssl_), ciphertext.data(), static_cast<int>(ciphertext.size()));
}

void tls_engine::drain_output() {
  BIO* wbio = SSL_get_wbio(ssl_);
  const std::size_t pending = BIO_ctrl_pending(wbio);
  if (pending == 0) return;
  const std::size_t at = out_.size();
  out_.resize(at + pending);
  const int n = BIO_read(wbio, out_.data() + at, static_cast<int>(pending));
  out_.resize(at + static_cast<std::size_t>(n > 0 ? n : 0));
}

std::vector<std::uint8_t>& tls_engine::pending_output() {
  drain_output();
  return out_;
}

bool tls_engine::has_output() const noexcept {
  return !out_.empty() || BIO_ctrl_pending(SSL_get_wbio(ssl_)) > 0;
}

tls_engine::status tls_engine::fail(int ret, bool drain) {
  if (drain) drain_output();  // an alert for the peer, if any
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ: return status::want_read;
    case SSL_ERROR_ZERO_RETURN: return status::closed;
    default: break;
  }
  error_ = openssl_errors();
  const long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK)
    error_ = fmt::format("certificate verify failed: {}", X509_verify_cert_error_string(verify));
  return status::error;
}

tls_engine::status tls_engine::handshake() {
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    drain_output();
    return status::ok;
  }
  return fail(r);
}

bool tls_engine::handshake_done() const noexcept { return SSL_is_init_finished(ssl_) == 1; }

tls_engine::status tls_engine::read(std::span<std::uint8_t> out, std::size_t& n) {
  n = 0;
  // Record after record until out is full or no whole record is left: a caller that got
  // less than it asked for may wait for the socket. What a read makes OpenSSL answer (a
  // TLS 1.3 key update) stays in the write BIO until the next write takes it: out_ may be
  // the buffer of a write in flight and must not grow under it.
  while (n < out.size()) {
    std::size_t got = 0;
    const int r = SSL_read_ex(ssl_, out.data() + n, out.size() - n, &got);
    if (r != 1) {
      const status st = fail(r, /*drain=*/false);
      starved_ = st == status::want_read;
      return n > 0 && st == status::want_read ? status::ok : st;
    }
    n += got;
  }
  return status::ok;
}

tls_engine::status tls_engine::write(std::span<const std::uint8_t> in) {
  std::size_t done = 0;
  while (done < in.size()) {
    std::size_t n = 0;
    const int r = SSL_write_ex(ssl_, in.data() + done, in.size() - done, &n);
    if (r != 1) return fail(r);
    done += n;
    drain_output();
  }
  return status::ok;
}

void tls_engine::shutdown() {
  SSL_shutdown(ssl_);
  drain_output();
}

bool tls_engine::buffered() const noexcept {
  // Plaintext OpenSSL holds, or bytes fed since the last read ran dry: a read may make
  // progress without the socket (at worst it ends in want_read, and this says false).
  return SSL_pending(ssl_) > 0 || (!starved_ && BIO_ctrl_pending(SSL_get_rbio(ssl_)) > 0);
}

void tls_engine::take_output(std::vector<std::uint8_t>& out) {
  drain_output();
  if (out.empty()) {
    out.swap(out_);
  } else {
    out.insert(out.end(), out_.begin(), out_.end());
  }
  out_.clear();
}

std::string tls_engine::describe() const {
  if (!handshake_done()) return {};
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl_);
  return fmt::format("{}/{}/{}", SSL_get_version(ssl_), c ? SSL_CIPHER_get_name(c) : "?",
                     c ? SSL_CIPHER_get_bits(c, nullptr) : 0);
}

std::string tls_engine::peer_common_name() const {
  X509* cert = SSL_get1_peer_certificate(ssl_);
  if (!cert) return {};
  std::string cn;
  char buf[256];
  const int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf,
                                          sizeof buf);
  if (n > 0) cn.assign(buf, static_cast<std::size_t>(n));
  X509_free(cert);
  return cn;
}

}  // namespace sluice::net

// ---------------------------------------------------------------------------- settings

namespace sluice::net {

tls_settings client_tls_settings(const config& c) {
  return {c.client_tls_sslmode,   c.client_tls_key_file, c.client_tls_cert_file,
          c.client_tls_ca_file,   c.client_tls_protocols, c.client_tls_ciphers,
          c.client_tls13_ciphers, c.client_tls_ecdhcurve, c.client_tls_dheparams};
}

tls_settings server_tls_settings(const config& c) {
  return {c.server_tls_sslmode,   c.server_tls_key_file, c.server_tls_cert_file,
          c.server_tls_ca_file,   c.server_tls_protocols, c.server_tls_ciphers,
          c.server_tls13_ciphers, "auto", "auto"};
}

}  // namespace sluice::net

namespace sluice {

namespace {
std::shared_ptr<const net::tls_context> context_for(const config& cfg, net::tls_context::role r,
                                                    const net::tls_settings& s,
                                                    const char* side) {
  if (s.sslmode == "disable") return nullptr;
  try {
    return std::make_shared<const net::tls_context>(r, s);
  } catch (const std::exception& e) {
    // The error names the setting without its side ("cert_file ...", "tls13_ciphers ..."):
    // prefix it (client_tls_cert_file, client_tls13_ciphers).
    const std::string_view what = e.what();
    throw config_error(cfg.file, 0,
                       fmt::format("{}_{}{}", side, what.starts_with("tls13_") ? "" : "tls_", what));
  }
}
}  // namespace

void prepare_tls(config& cfg) {
  cfg.client_tls = context_for(cfg, net::tls_context::role::accept,
                               net::client_tls_settings(cfg), "client");
  cfg.server_tls = context_for(cfg, net::tls_context::role::connect,
                               net::server_tls_settings(cfg), "server");
}

}  // namespace sluice
