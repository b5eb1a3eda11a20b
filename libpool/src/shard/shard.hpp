#pragma once
// Coroutine rules for this code base (GCC 12.2, Debian 12):
// - never co_await inside an if/while condition: GCC 12.2 miscompiles `if (co_await f())` and
//   the coroutine then reads garbage (seen here: a segfault in the next resumed frame). Bind
//   the result to a local first, then test it;
// - a co_await/co_return in the body of if/else/for/while sits inside braces (GCC bug 106188);
// - coroutines take what they use as parameters, never as lambda captures.
//
// Internal objects of the runtime: shards, pools, server connections, client sessions.
// Threading rule: an object with a socket or a timer belongs to one shard and is touched only
// from that shard's thread; pools are shared and guard their cross-shard state with a mutex
// (slow path only) and atomics. Server connections move between shards through the target
// shard's lock-free mailbox.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/lockfree/queue.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pgwire/auth.hpp"
#include "pgwire/framer.hpp"
#include "pgwire/scanner.hpp"
#include "pgwire/writer.hpp"
#include "sluice/config.hpp"

namespace sluice {

namespace asio = boost::asio;
using boost::system::error_code;
// Sockets bound to io_context's own executor: smaller than with any_io_executor, and so is
// every operation pending on them (an idle client keeps one).
using stream_socket =
    asio::basic_stream_socket<asio::generic::stream_protocol, asio::io_context::executor_type>;
using clock = std::chrono::steady_clock;
template <class T>
using awaitable = asio::awaitable<T>;
inline constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

class runtime;
struct shard;
struct pool;
struct client_session;

/// Work sent to a shard from another thread.
struct mail {
  virtual void run(shard& s) = 0;
  virtual void destroy() noexcept = 0;  ///< destroys and frees this mail

 protected:
  ~mail() = default;
};

/// The parameters tracked per client and per server connection (ParameterStatus-visible),
/// by canonical name.
using param_map = std::map<std::string, std::string, std::less<>>;

/// A client's tracked parameters with their key (see tracked_key). Immutable and shared:
/// clients with the same values point to the same set (pool::intern), so an idle client
/// carries a pointer, not a map.
struct param_set {
  param_map values;
  std::string key;
};
using param_set_ptr = std::shared_ptr<const param_set>;

/// One PostgreSQL connection. Owned by exactly one place at a time: a pool's idle list on a
/// shard, a hand-off in flight, or the client session it is linked to.
struct server_conn {
  server_conn(asio::io_context& io, pool& p, std::uint32_t max_packet)
      : sock(io), owner(&p), scan(max_packet) {}
  stream_socket sock;
  pool* owner;
  int protocol_family = 0;  ///< to rebuild the socket on another shard
  std::uint64_t id = 0;     ///< for "S-0x..." log prefixes
  param_map params;
  std::string tracked_key;  ///< tracked_key(params): compared with the client's on every link
  std::uint32_t be_pid = 0, be_secret = 0;
  clock::time_point connected_at, idle_since;
  std::string local_addr;
  bool in_login = true;
  pgwire::byte_buffer rbuf;  ///< bytes read but not consumed (login / reset phases)
  // Relay state while linked to a client. It belongs to the server side of the link, so
  // idle clients do not carry it.
  pgwire::stream_scanner scan;     ///< message boundaries of what the server sends
  pgwire::byte_buffer relay_buf;   ///< read buffer (pkt_buf bytes), allocated on first link
};
using server_ptr = std::unique_ptr<server_conn>;

/// Free blocks of one size, per thread (see pooled_allocator).
template <std::size_t Size>
struct block_cache {
  static constexpr std::size_t max_blocks = 256;
  std::vector<void*> blocks;
  block_cache() { blocks.reserve(max_blocks); }
  ~block_cache() {
    for (void* p : blocks) ::operator delete(p);
  }
  static block_cache& mine() {
    thread_local block_cache cache;
    return cache;
  }
};

/// Allocates single objects from a per-thread free list of blocks of exactly their size, so
/// that steady-state traffic allocates nothing and a long-lived object holds no more than it
/// needs (Asio's own recycling hands out any larger cached block). A block freed on another
/// thread joins that thread's list. Each list keeps at most block_cache::max_blocks.
template <class T>
struct pooled_allocator {
  using value_type = T;
  pooled_allocator() noexcept = default;
  template <class U>
  pooled_allocator(const pooled_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n == 1) {
      auto& cache = block_cache<sizeof(T)>::mine();
      if (!cache.blocks.empty()) {
        void* p = cache.blocks.back();
        cache.blocks.pop_back();
        return static_cast<T*>(p);
      }
    }
    return static_cast<T*>(::operator new(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n == 1) {
      auto& cache = block_cache<sizeof(T)>::mine();
      if (cache.blocks.size() < block_cache<sizeof(T)>::max_blocks) {
        cache.blocks.push_back(p);  // capacity reserved: cannot throw
        return;
      }
    }
    ::operator delete(p);
  }
  template <class U>
  bool operator==(const pooled_allocator<U>&) const noexcept {
    return true;
  }
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

/// What a wait for a server ends with: the server, or nullptr and the reason. A function
/// pointer and the object it is for, so that a wait allocates nothing for its callback
/// (std::function would: a shared_ptr capture is not stored in place).
struct wait_done {
  using fn_type = void (*)(std::shared_ptr<void> ctx, server_ptr srv, std::string error);
  fn_type fn = nullptr;
  std::shared_ptr<void> ctx;
  void operator()(server_ptr srv, std::string error) {
    fn(std::move(ctx), std::move(srv), std::move(error));
  }
};

/// A client waiting for a server. Shared so a hand-off in flight keeps it alive.
struct waiter {
  waiter(shard& s, wait_done d);
  shard& home;
  asio::steady_timer timer;  ///< expires at the next deadline; cancelled on delivery
  wait_done done;            ///< called once, on the home shard, from the timer's handler
  server_ptr delivered;
  std::optional<std::string> failed;  ///< set when the pool gives up on this waiter
  clock::time_point since, wait_deadline, reserve_deadline;
};

/// Where and as whom a pool logs in.
struct pool_target {
  std::string host;  ///< "" or "/dir" = Unix socket, else a host name or address
  int port = 5432;
  std::string dbname, user, password;
  std::vector<std::pair<std::string, std::string>> startup_params;
  std::string connect_query;
};

/// One logical pool per (database, user): limits hold across all shards.
struct pool {
  pool(runtime& rt, std::string db, std::string user, pool_target target, pool_mode mode,
       int size, int min_size, int reserve, std::size_t nshards);

  runtime& rt;
  const std::string db_name, user_name;
  const pool_target target;
  const pool_mode mode;
  const int pool_size, min_pool_size, reserve_size;
  int max_db_connections = 0;  ///< the database's own limit, else [pgbouncer]'s; 0 = none

  // ---- slow path, under mu
  std::mutex mu;
  std::atomic<int> total{0};  ///< servers open or being opened, all shards (written under mu)
  int connecting = 0;         ///< of which still logging in
  std::deque<std::shared_ptr<waiter>> waiters;
  param_map welcome;  ///< ParameterStatus of the first server login
  bool have_welcome = false;
  std::optional<pgwire::scram_keys> scram_keys;  ///< pass-through keys of the last client
  std::string last_login_error;
  clock::time_point last_login_failure{};
  bool retry_scheduled = false;

  /// The shared param_set with these values (all tracked), creating it if needed.
  param_set_ptr intern(const config& cfg, param_map values);
  std::mutex intern_mu;
  std::map<std::string, std::weak_ptr<const param_set>, std::less<>> interned;
  std::size_t intern_sweep_at = 64;

  std::atomic<int> nwaiters{0};

  /// Per shard: idle servers (touched only by that shard) and their count (read by others),
  /// and the shard's share of the statistics. Written only by the shard's thread, so counters
  /// are bumped with a relaxed load and store (no locked instruction); readers sum over shards.
  /// Cache-line aligned: shards write their own line only.
  struct alignas(64) local {
    std::vector<server_ptr> idle;
    std::atomic<int> idle_count{0};
    std::atomic<int> active{0};  ///< servers linked to a client
    std::atomic<std::uint64_t> xact_count{0}, query_count{0}, bytes_in{0}, bytes_out{0};
    std::atomic<std::uint64_t> wait_time_us{0};
  };
  std::unique_ptr<local[]> locals;
  const std::size_t nshards;
  int active_total() const {
    int n = 0;
    for (std::size_t i = 0; i < nshards; ++i) n += locals[i].active.load(std::memory_order_relaxed);
    return n;
  }
};

/// Adds n to a counter that only the calling thread writes.
template <class T>
inline void bump(std::atomic<T>& counter, T n) {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

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

/// A shard: one io_context, one thread, its own idle servers and clients.
struct shard {
  shard(runtime& rt, int id);
  runtime& rt;
  const int id;
  // One thread runs this context and every socket is touched only from it, so the reactor's
  // per-descriptor locks can go (posting from other threads stays locked).
  asio::io_context io{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::thread thread;
  boost::lockfree::queue<mail*> mailbox{256};
  std::atomic<bool> wake_pending{false};
  client_link clients;  ///< list head of this shard's client sessions (janitor, cancel)
  asio::steady_timer janitor;
  /// Read buffer shared by the shard's client sessions: a client's bytes live here only
  /// between a read and the write that forwards them, so idle clients hold no buffer.
  pgwire::byte_buffer scratch = pgwire::byte_buffer(64 * 1024);
  std::size_t buffer_size = 4096;  ///< pkt_buf: size of each server's relay buffer

  /// From any thread: run m on this shard.
  void send(mail* m);
  template <class F>
  void post_fn(F f) {
    send(fn_mail<F>::make(std::move(f)));
  }
  void drain();
};

// ---- server.cpp: connections to PostgreSQL
struct login_result {
  bool ok = false;
  std::string error;     ///< message for logs and clients
  std::string sqlstate;  ///< when the server sent an ErrorResponse
};
/// Connects and logs in (startup, auth, ParameterStatus, BackendKeyData, ReadyForQuery, then
/// connect_query). Honours server_connect_timeout.
awaitable<login_result> server_login(server_conn& s, const config& cfg,
                                     std::optional<pgwire::scram_keys> keys);
/// Sends one simple query and reads until ReadyForQuery; ParameterStatus updates s.params.
/// Returns false (and the error text) if the server failed or the status is not idle.
awaitable<bool> server_simple_query(server_conn& s, std::string_view sql, std::string* error);
/// Applies TCP_NODELAY, the keepalive settings and tcp_user_timeout to a TCP socket.
void apply_tcp_options(int fd, const config& cfg);
/// Applies tcp_socket_buffer. Only before the connection exists (a socket about to connect,
/// or a listener, whose accepted sockets inherit it): buffers shrunk under an established
/// connection's window stall the peer's sends on the 200 ms persist timer.
void apply_tcp_buffers(int fd, const config& cfg);
/// Sends a CancelRequest for this server's backend key to the pool's target.
awaitable<void> send_cancel(asio::io_context& io, pool_target target, std::uint32_t pid,
                            std::uint32_t secret);
/// True if an idle server has been closed by its peer or sent something unexpected.
bool server_is_dead(server_conn& s);
std::string canonical_param(std::string_view name);
bool is_tracked_param(const config& cfg, std::string_view canonical);
/// The tracked parameters of a map as one string ("name=value\0..."), so that a client and a
/// server are compared with one string comparison instead of a walk over both maps.
std::string tracked_key(const config& cfg, const param_map& params);

}  // namespace sluice

#include "sluice/pooler.hpp"

namespace sluice {

/// The whole pooler: shards, listeners, pools, cancel keys.
class runtime final : public pooler {
 public:
  runtime(config_ptr cfg, std::shared_ptr<const userlist> users);
  ~runtime() override;
  void start() override;
  void wait() override;
  void shutdown(shutdown_mode mode) override;
  int shards() const override { return int(shards_.size()); }

  const config& cfg() const noexcept { return *cfg_; }
  const userlist& users() const noexcept { return *users_; }
  shard& shard_at(int i) { return *shards_[std::size_t(i)]; }

  /// The pool for (database entry, client user), created on first use.
  pool* get_pool(const database_config& db, const std::string& dbname, const std::string& user,
                 bool& created);

  // ---- pool operations (pool.cpp)
  /// Takes an idle server of p on shard s when nobody is queued ahead; nullptr if there is
  /// none. `needs_check` is set when server_check_query is due before the server is used.
  server_ptr take_idle(pool& p, shard& s, bool& needs_check);
  /// Runs server_check_query on srv: the server back if it answered, nullptr (discarded) if not.
  awaitable<server_ptr> check_server(server_ptr srv, shard& s);
  /// Queues for a server of p on shard s; `done` runs later on s with the server, or with
  /// nullptr and the reason (query_wait_timeout, a failed login). Never calls `done` inline.
  void wait_for_server(pool& p, shard& s, wait_done done);
  /// take_idle, check_server and wait_for_server in one: nullptr + error text on failure.
  awaitable<server_ptr> acquire(pool& p, shard& s, std::string& error);
  /// Returns a server to its pool (idle, or to the first waiter on any shard).
  void release(server_ptr srv, shard& s);
  /// Closes a server for good and frees its slot.
  void discard(server_ptr srv, shard& s, std::string_view reason);
  /// Opens a new server connection for p on s if the limits allow; the result goes through
  /// release() (to a waiter or the idle list).
  void launch_server(pool& p, shard& s, bool reserve);
  void janitor_tick(shard& s);
  awaitable<void> open_server(pool& p, shard& s, server_ptr srv,
                              std::optional<pgwire::scram_keys> keys);
  awaitable<void> janitor_loop(shard& s);

  // ---- cancel keys
  /// A fresh random key (pid, secret) for a client's BackendKeyData.
  static void new_cancel_key(std::uint32_t& pid, std::uint32_t& secret);
  /// Finds the client with this key on any shard and cancels its query. Keys are 64 random
  /// bits and a cancel is rare, so each shard scans its own clients: no key index is kept.
  void route_cancel(std::uint32_t pid, std::uint32_t secret);

  std::atomic<int> client_count{0};
  std::atomic<bool> stopping{false};
  std::atomic<bool> refuse_new_links{false};  ///< SHUTDOWN WAIT_FOR_SERVERS in progress
  std::atomic<std::uint64_t> next_id{1};

 private:
  void start_listeners();
  struct listener;
  awaitable<void> accept_loop(listener& l);
  void shutdown_poll();
  void stop_all();
  std::atomic<bool> stopping_done_{false};
  void try_serve_waiters(pool& p, shard& s);
  void on_waiter_timer(pool& p, const std::shared_ptr<waiter>& w);
  void arm_waiter(pool& p, const std::shared_ptr<waiter>& w);

  config_ptr cfg_;
  std::shared_ptr<const userlist> users_;
  std::vector<std::unique_ptr<shard>> shards_;
  std::mutex pools_mu_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<pool>> pools_;

  std::vector<std::unique_ptr<listener>> listeners_;
  std::atomic<unsigned> rr_{0};
  std::atomic<int> shutdown_mode_{-1};
  std::unique_ptr<asio::steady_timer> shutdown_timer_;
  std::mutex done_mu_;
  bool done_ = false;
  std::vector<std::string> unix_paths_;

  friend struct client_session;
};

/// Starts a client session on shard s for an accepted socket.
void start_client(runtime& rt, shard& s, stream_socket sock, bool is_unix);
// Operations on a client session, from its own shard (client.cpp).
void client_check_timeouts(client_link* c, const config& cfg);
/// Sends a cancel for c's query if it has key (pid, secret); false if the key is not c's.
bool client_cancel_if(client_link* c, shard& s, std::uint32_t pid, std::uint32_t secret);

}  // namespace sluice
