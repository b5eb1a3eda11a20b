#pragma once
// Reads and writes of a connection that may be TLS: the socket itself, or through its
// tls_engine (net/tls.hpp), whose encrypted bytes these move over the socket. The login, the
// console, errors and the pooler's own queries use them; the relay takes the same steps
// inline, in its completion handlers (session/relay.cpp).

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "net/tls.hpp"
#include "shard/io.hpp"

namespace sluice::net {

using tls_ptr = std::unique_ptr<tls_engine>;

/// The error of a TLS connection that failed (its engine's error() says why).
error_code tls_failed();

/// Reads at least one byte of plaintext into out; eof when the peer has closed.
awaitable<std::pair<error_code, std::size_t>> read_some(stream_socket& s, tls_engine* tls,
                                                        std::span<std::uint8_t> out);
/// Writes all of in.
awaitable<error_code> write_all(stream_socket& s, tls_engine* tls,
                                std::span<const std::uint8_t> in);
/// Runs the handshake over the socket to its end (sending the alert of a failure).
awaitable<error_code> handshake(stream_socket& s, tls_engine& tls);

/// A non-blocking send of a whole message (what the socket takes now, nothing waits), for
/// errors to a peer being closed and notices to a queued client.
enum class sent { all, none, part };
sent send_now(stream_socket& s, tls_engine* tls, std::span<const std::uint8_t> in);

// ---- the relay's non-blocking steps (no coroutine)

/// Reads plaintext now, without waiting: a plain read_some, or for TLS what the socket has
/// (into raw) fed to the engine and decrypted into out. would_block when there is nothing
/// whole to give yet.
std::size_t read_now(stream_socket& s, tls_engine* tls, std::span<std::uint8_t> out,
                     std::vector<std::uint8_t>& raw, error_code& ec);
/// The TLS half of a relay read that completed with n raw bytes in raw: decrypted into out.
/// False when nothing whole has come yet (read again); else n plaintext bytes or ec.
bool decrypt(tls_engine& tls, const std::uint8_t* raw, std::size_t& n,
             std::span<std::uint8_t> out, error_code& ec);
/// The relay's first-try write of [data, data + len). True if it all went at once.
/// Otherwise `rest` is what an asynchronous write still has to send: the tail of data, or,
/// for TLS, the engine's pending_output(), which must not be added to until that write has
/// ended (then output_written()). ec on a hard error.
bool write_now(stream_socket& s, tls_engine* tls, const std::uint8_t* data, std::size_t len,
               std::span<const std::uint8_t>& rest, error_code& ec);

/// Raw read size for TLS: one whole record of 16 KiB with its header and padding.
inline constexpr std::size_t tls_read_size = 16 * 1024 + 512;

}  // namespace sluice::net
