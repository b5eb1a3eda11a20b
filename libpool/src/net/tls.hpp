#pragma once
// TLS without sockets: OpenSSL driven through two memory BIOs, so the caller moves the
// encrypted bytes itself (the relay's non-blocking reads and writes, its backpressure) and a
// connection's whole TLS state is one movable object that can go to another shard with its
// descriptor. No Asio here: the unit tests pump bytes between two engines in memory.
//
// Settings follow pgbouncer's client_tls_* / server_tls_* keys (tls_settings below).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace sluice {
struct config;
}

namespace sluice::net {

/// One side's TLS settings, as pgbouncer names them (client_tls_* or server_tls_*).
struct tls_settings {
  std::string sslmode = "disable";  ///< disable, allow, prefer, require, verify-ca, verify-full
  std::string key_file, cert_file, ca_file;
  std::string protocols = "secure";  ///< "secure" = tlsv1.2,tlsv1.3; "all"; or a list
  std::string ciphers = "default";   ///< OpenSSL cipher list for TLS <= 1.2
  std::string tls13_ciphers;         ///< OpenSSL TLS 1.3 ciphersuites; empty = OpenSSL's
  std::string ecdhcurve = "auto";    ///< groups list, or "auto"
  std::string dheparams = "auto";    ///< "auto", "none" or "legacy"
  bool operator==(const tls_settings&) const = default;
};

/// An SSL_CTX built from settings; immutable once made, shared by the connections that use
/// it (a reload builds a new one; connections keep theirs).
class tls_context {
 public:
  enum class role { accept, connect };  ///< sluice as the TLS server (clients) or client
  /// Throws std::runtime_error naming the setting and file at fault.
  tls_context(role r, const tls_settings& s);
  ~tls_context();
  tls_context(const tls_context&) = delete;
  tls_context& operator=(const tls_context&) = delete;

  role side() const noexcept { return role_; }
  /// require, verify-ca or verify-full: a peer without TLS is refused.
  bool required() const noexcept { return required_; }
  /// verify-ca or verify-full: the peer's certificate must chain to ca_file.
  bool verifies_peer() const noexcept { return verify_; }
  /// verify-full: and name the host it was reached by.
  bool verifies_host() const noexcept { return verify_host_; }
  SSL_CTX* native() const noexcept { return ctx_; }

 private:
  role role_;
  bool required_ = false, verify_ = false, verify_host_ = false;
  SSL_CTX* ctx_ = nullptr;
};

/// One connection's TLS state.
class tls_engine {
 public:
  enum class status {
    ok,         ///< done (handshake complete, or bytes moved)
    want_read,  ///< needs more encrypted bytes from the peer (send pending_output() first)
    closed,     ///< the peer sent close_notify
    error,      ///< the connection is unusable: error() says why
  };

  /// For role::connect, `host` is the name checked under verify-full and sent as SNI.
  explicit tls_engine(std::shared_ptr<const tls_context> ctx, std::string_view host = {});
  ~tls_engine();
  tls_engine(tls_engine&&) noexcept;
  tls_engine& operator=(tls_engine&&) noexcept;

  // ---- the network side
  /// Encrypted bytes read from the socket. Bounded by the caller's read size.
  void feed(std::span<const std::uint8_t> ciphertext);
  /// Encrypted bytes to write to the socket, produced by handshake(), write() or shutdown().
  std::vector<std::uint8_t>& pending_output();
  bool has_output() const noexcept;
  /// The whole of pending_output() has been written (what was produced since stays queued).
  void output_written() noexcept { out_.clear(); }

  // ---- the application side
  status handshake();
  bool handshake_done() const noexcept;
  /// Up to out.size() plaintext bytes into out, from every whole record fed; n = how many
  /// (ok with n < out.size(): no whole record is left). Never adds to pending_output().
  status read(std::span<std::uint8_t> out, std::size_t& n);
  /// Encrypts all of in (the output grows; the caller writes it as the socket allows).
  status write(std::span<const std::uint8_t> in);
  /// close_notify, queued as output.
  void shutdown();
  /// A read may make progress without more bytes from the socket: plaintext is held, or
  /// bytes were fed since a read last ran out (the relay then reads before it waits).
  bool buffered() const noexcept;
  /// Appends the pending output to out (taking it when out is empty).
  void take_output(std::vector<std::uint8_t>& out);

  /// Why the last call returned error (OpenSSL's text, and the certificate check's).
  const std::string& error() const noexcept { return error_; }
  /// "TLSv1.3/TLS_AES_256_GCM_SHA384/256", as SHOW CLIENTS' tls column; empty before the
  /// handshake.
  std::string describe() const;
  /// The peer certificate's subject CN; empty without one.
  std::string peer_common_name() const;

 private:
  status fail(int ret, bool drain = true);
  void drain_output();

  std::shared_ptr<const tls_context> ctx_;
  SSL* ssl_ = nullptr;
  std::vector<std::uint8_t> out_;
  std::string error_;
  bool starved_ = false;  ///< the last read wanted more than was fed
};

/// The client_tls_* / server_tls_* settings of a configuration.
tls_settings client_tls_settings(const sluice::config& c);
tls_settings server_tls_settings(const sluice::config& c);

}  // namespace sluice::net
