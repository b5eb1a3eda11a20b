#pragma once
// The bottom layer of the runtime: a shard (one io_context, one thread) and its mailbox, and
// the set of all shards. pool/ and session/ build on this; it includes neither.
//
// Threading rule: an object with a socket or a timer belongs to one shard and is touched only
// from that shard's thread; pools are shared and guard their cross-shard state with a mutex
// (slow path only) and atomics. Server connections move between shards through the target
// shard's lock-free mailbox (shard/mailbox.hpp).

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "shard/relay_read.hpp"
#include "pgwire/writer.hpp"
#include "shard/block_allocator.hpp"
#include "shard/counter.hpp"
#include "shard/io.hpp"
#include "shard/mailbox.hpp"
#include "sluice/config.hpp"

namespace sluice {

struct shard;
struct console_backend;

/// Work sent to a shard from another thread.
struct mail : mail_link {
  virtual void run(shard& s) = 0;
  virtual void destroy() noexcept = 0;  ///< destroys and frees this mail

 protected:
  ~mail() = default;
};

/// Mail that runs a function object. Allocated from the sender's block cache and freed into
/// the receiver's: hand-offs in both directions allocate nothing in steady state.
template <class F>
struct fn_mail final : mail {
  explicit fn_mail(F f) : f_(std::move(f)) {}
  void run(shard& s) override { f_(s); }
  void destroy() noexcept override {
    pooled_allocator<fn_mail> a;
    this->~fn_mail();
    a.deallocate(this, 1);
  }
  static fn_mail* make(F f) {
    pooled_allocator<fn_mail> a;
    fn_mail* m = a.allocate(1);
    try {
      return new (m) fn_mail(std::move(f));
    } catch (...) {
      a.deallocate(m, 1);
      throw;
    }
  }
  F f_;
};

/// Links a client session into its shard's list (intrusive: no node allocation per client).
struct client_link {
  client_link* prev = this;
  client_link* next = this;
  void link_into(client_link& head) {
    prev = &head;
    next = head.next;
    head.next->prev = this;
    head.next = this;
  }
  void unlink_from_list() {
    prev->next = next;
    next->prev = prev;
    prev = next = this;
  }
};

/// Every shard of the process, and the few process-wide facts all layers share. Built once,
/// before any shard thread starts; the vector never changes afterwards.
struct shard_set {
  std::vector<std::unique_ptr<shard>> shards;
  std::atomic<int> client_count{0};           ///< client sockets open, all shards
  std::atomic<bool> refuse_new_links{false};  ///< SHUTDOWN WAIT_FOR_SERVERS in progress
  /// SHUTDOWN WAIT_FOR_SERVERS or WAIT_FOR_CLIENTS in progress: logins to the console only
  std::atomic<bool> shutting_down{false};
  std::atomic<std::uint64_t> next_id{1};      ///< ids for "S-0x..." log prefixes
  /// What the admin console's statements mean (admin/); installed before the shards start.
  console_backend* console = nullptr;
  std::atomic<bool> paused{false};  ///< PAUSE without a database: no server is handed out

  std::size_t size() const noexcept { return shards.size(); }
  shard& at(std::size_t i) noexcept { return *shards[i]; }
};

/// A shard: one io_context, one thread, its own idle servers and clients.
struct shard {
  shard(shard_set& set, int id, config_ptr cfg, std::shared_ptr<const userlist> users);
  shard_set& set;
  const int id;
  /// List head of the server connections living on this shard (server_conn links itself in
  /// at launch and after a hand-off, out when destroyed or handed off): how SHOW SERVERS
  /// finds the ones owned by a coroutine (logging in, check or reset query). Declared before
  /// `io` so it outlives the coroutine frames the io_context destroys.
  client_link servers;
  // One thread runs this context and every socket is touched only from it, so the reactor's
  // per-descriptor locks can go (posting from other threads stays locked).
  asio::io_context io{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::thread thread;
  mailbox inbox;
  std::atomic<bool> wake_pending{false};
  client_link clients;  ///< list head of this shard's client sessions (janitor, cancel)
  asio::steady_timer janitor;
  /// Read buffer shared by the shard's client sessions: a client's bytes live here only
  /// between a read and the write that forwards them, so idle clients hold no buffer.
  pgwire::byte_buffer scratch = pgwire::byte_buffer(64 * 1024);
  relay_reader reads{io, scratch};  ///< the relay's reads of servers and plaintext clients
  /// TLS clients' encrypted bytes, read here before the engine decrypts them into scratch
  /// (sized on first use).
  pgwire::byte_buffer tls_raw;
  /// What a client read becomes when statements are renamed (prepared statements in
  /// transaction mode); only for the turn that builds it.
  pgwire::byte_buffer rewrite_buf;
  /// After a turn: a rewrite that held a large statement (a named Parse of megabytes) gives
  /// its memory back rather than keep it for the shard's life.
  void trim_rewrite_buf() {
    if (rewrite_buf.capacity() > 4 * scratch.size()) pgwire::byte_buffer().swap(rewrite_buf);
  }
  std::size_t buffer_size = 4096;  ///< pkt_buf: size of each server's relay buffer

  /// The configuration and userlist this shard runs with: read on its own thread only. A
  /// reload replaces them (set_config, on this thread), so a coroutine that reads them across
  /// a suspension keeps a cfg_ptr() copy instead of the reference.
  const config& cfg() const noexcept { return *cfg_; }
  const config_ptr& cfg_ptr() const noexcept { return cfg_; }
  const userlist& users() const noexcept { return *users_; }
  /// The userlist itself, for what must outlive a reload (a login's decoded secret).
  const std::shared_ptr<const userlist>& users_ptr() const noexcept { return users_; }
  void set_config(config_ptr cfg, std::shared_ptr<const userlist> users) {
    cfg_ = std::move(cfg);
    users_ = std::move(users);
  }

  /// From any thread: run m on this shard.
  void send(mail* m);
  template <class F>
  void post_fn(F f) {
    send(fn_mail<F>::make(std::move(f)));
  }
  void drain();

 private:
  config_ptr cfg_;
  std::shared_ptr<const userlist> users_;
};

}  // namespace sluice
