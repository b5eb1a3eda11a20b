#pragma once
// A client session: login (login.cpp), the relay's two chains (relay.cpp), parameter
// tracking and replay (params.cpp), and its life on the shard (session.cpp).
//
// Login is a coroutine. The relay that follows is two chains of completion handlers (see
// relay.cpp). Only the server chain unlinks: it releases the server when the transaction is
// over (transaction/statement mode) or when the client has gone (session mode), so a server
// is never freed under an operation in flight.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "net/stream.hpp"
#include "pgwire/auth.hpp"
#include "pgwire/framer.hpp"
#include "pgwire/scanner.hpp"
#include "pgwire/statements.hpp"
#include "pool/pool.hpp"
#include "session/console.hpp"
#include "session/listen.hpp"
#include "pool/statements.hpp"
#include "shard/shard.hpp"

namespace sluice {

/// A client batch of named Parses and Syncs only, seen while no server is linked: if every
/// statement is one a server of the pool accepted lately, the pooler answers it itself (the
/// Parse goes to a server when a Bind needs it). pgbench -M prepared, for one, prepares each
/// statement synchronously, one client after another; a pool busy with that thread's other
/// clients' transactions would never get to serve it.
struct parse_batch {
  bool answerable = true;
  int syncs = 0;
  std::string answers;  ///< ParseComplete / ReadyForQuery tags, in order
  std::vector<std::pair<std::string, statement_ptr>> parses;
};

/// Where a client session is.
enum class session_state : std::uint8_t {
  logging_in,  ///< startup, authentication, welcome
  idle,        ///< logged in; no server linked and none awaited
  waiting,     ///< queued for a server
  linked,      ///< a server is linked: the relay runs both ways
  closing,     ///< its end is decided: what is in flight winds down, nothing new starts
  finished,    ///< the client is gone (a server may still be unlinking)
};

/// The relay's state of both directions while logged in (relay.cpp).
struct relay_state {
  int pending_rfq = 0;      ///< Query/Sync/FunctionCall sent, ReadyForQuery not yet seen
  bool batch_open = false;  ///< extended-protocol messages sent since the last Sync
  /// SHOW STATS query_count counts one per exchange (pgbouncer's rule): the first client
  /// message after everything was answered with ReadyForQuery; this one is counted.
  bool query_counted = false;
  char tx_status = 'I';     ///< of the last ReadyForQuery
  pgwire::stream_scanner cscan;  ///< message boundaries of what the client sends
  bool poison_server = false;    ///< the server must be closed, not reused
  bool server_armed = false;     ///< a read on the server socket is pending
  bool to_client_pending = false;  ///< the server chain waits for a partial write to drain
  clock::time_point tx_started;  ///< when the transaction now open began (transaction_timeout)
  /// For SHOW STATS query_time / xact_time: when the client sent the first message of the
  /// query / transaction in flight (the read's timestamp); zero when none is.
  clock::time_point query_start{}, xact_start{};

  explicit relay_state(std::uint32_t max_packet) : cscan(max_packet, max_packet) {}
  /// No query, transaction or message in flight on either side (srv: the linked server).
  bool clean(const server_conn* srv) const {
    return pending_rfq == 0 && !batch_open && tx_status == 'I' && cscan.at_boundary() &&
           (!srv || srv->scan.at_boundary());
  }
};

/// What the console, the HTTP endpoint and the control commands read of a session (SHOW
/// CLIENTS, SHOW POOLS, KILL_CLIENT, WAIT_CLOSE): taken on the session's own shard and used
/// there, during one pass over its clients (the pointers are valid for that pass only).
struct session_view {
  std::uint64_t id = 0;
  session_state state = session_state::logging_in;
  bool logged_in = false;
  const console_user* console = nullptr;  ///< a client of the admin console
  std::string_view user;                  ///< the login's user (the console's own for one)
  std::string_view database;              ///< the pool's database, or the one asked for
  const pool* pool_of = nullptr;          ///< none during login and for the console
  const void* ptr = nullptr;              ///< what the log prefix "C-0x..." shows
  const stream_socket* socket = nullptr;
  bool is_unix = false;
  const server_conn* server = nullptr;    ///< the linked server
  clock::time_point connected_at, last_client_io;
  clock::time_point waiting_since{};      ///< when queued for a server (zero if not queued)
  const net::tls_engine* tls = nullptr;
  std::uint64_t cancel_key = 0;
  const param_set* params = nullptr;      ///< tracked parameters as the client sees them
  std::size_t held_in = 0;                ///< client bytes held (login, linking, a write)
  std::size_t prepared_statements = 0;    ///< the client's named statements
};

/// What one client read holds, as the client chain sees it.
struct client_read {
  const std::uint8_t* data = nullptr;  ///< what to forward: the read, or its rewrite
  std::size_t forward = 0;             ///< how many bytes of it
  bool terminate = false, split_terminate = false;
  int unknown_tag = -1;         ///< a message type the frontend protocol does not have
  bool pqexec_refused = false;  ///< a Query while disable_pqexec is set
  pgwire::errc err = pgwire::errc::ok;
};

/// A client session. Outside session/ it is seen through view() and ended with kill(); the
/// rest is its own (the relay's handlers are its static members).
class client_session : public client_link, public notify_sink {
 public:
  client_session(pool_registry& reg, shard& s, stream_socket so, bool unix_socket);
  using self_ptr = std::shared_ptr<client_session>;

  /// The session's life, from the accepted socket to the end (login.cpp).
  static awaitable<void> main(self_ptr self);
  /// The session as control/ reads it (see session_view).
  session_view view() const;
  /// Ends the session from outside its coroutines (janitor, shutdown, the console's KILL).
  void kill(std::string_view reason, std::string_view sqlstate = "08P01");
  /// The janitor's per-second check: client_login_timeout, client_idle_timeout,
  /// idle_transaction_timeout, transaction_timeout.
  void check_timeouts(const config& c);
  /// "C-0x...: db/user@addr" for log lines; the address of the session is its id.
  std::string prefix() const;
  /// listen.cpp: a notification for one of this client's channels (on its shard).
  void deliver(const notification_ptr& n) override;

  /// The shard's reader of client and server sockets (shard/relay_read.hpp).
  relay_reader& relay_reads() { return sh.reads; }

 private:
  friend void start_client(pool_registry& registry, shard& s, stream_socket sock, bool is_unix,
                           const sockaddr_storage& peer);
  friend void route_cancel(shard& s, pool_registry& registry, std::uint32_t pid,
                           std::uint32_t secret);
  friend struct client_wait_handler;

  /// Sends a cancel for this client's query if its cancel key is (pid, secret); false if the
  /// key is not its own (route_cancel).
  bool cancel_if_key(std::uint32_t pid, std::uint32_t secret);

  pool_registry& registry;
  shard& sh;
  stream_socket sock;
  /// The client's TLS, once it has asked for it (SSLRequest) and the handshake is done.
  net::tls_ptr tls;
  std::uint64_t id = 0;  ///< stable, process-wide (SHOW CLIENTS "id", KILL_CLIENT)
  std::string addr, user_name;
  std::unique_ptr<std::string> login_db;  ///< the database asked for, until pool_ is known
  pool_client_ref pool_;
  /// A client of the admin console (`pgbouncer` database): who it is. It has no pool.
  std::unique_ptr<console_user> console;
  server_ptr srv;
  /// Queued for a server: the pool's waiter, for cancel_wait (query_wait_timeout applies
  /// then, not the idle timeouts).
  waiter* wait_ = nullptr;

  /// The relay's view of both directions (relay.cpp).
  relay_state relay;
  param_set_ptr params;  ///< tracked parameters as this client sees them (shared, immutable)
  std::unique_ptr<client_statements> statements;  ///< its names, from its first named Parse
  /// LISTEN/UNLISTEN state, from the first such statement (transaction/statement mode).
  std::unique_ptr<listen_state> listening;

  std::uint32_t key_pid = 0, key_secret = 0;  ///< cancel key given to the client
  bool client_writing = false;  ///< a coroutine (an error, a console answer) writes to the client
  /// Protocol-level prepared statements are renamed (transaction/statement mode with
  /// max_prepared_statements > 0), decided when the relay starts.
  bool track_statements = false;
  const bool is_unix;
  /// Counted in registry.clients (pool_'s database, or "pgbouncer" for the console), until
  /// finish().
  bool counted = false;
  // Beside the flags above: a session is allocated per client, so no padding between them.
  session_state life_ = session_state::logging_in;  ///< logging_in, idle, closing or finished
  bool logged_in_ = false;
  /// Why the server is closed when the session ends (instead of the generic reasons).
  const char* server_close_reason = nullptr;
  /// A replication client (replication=true|database): what its server gets, besides user
  /// and database, starting with replication=... (none for other clients).
  std::unique_ptr<std::vector<std::pair<std::string, std::string>>> replication;
  clock::time_point connected_at = clock::now(), last_client_io = clock::now(),
                    last_server_io = clock::now();
  pgwire::byte_buffer cbuf;  ///< client bytes that must outlive a read (login, linking)


  // ---- where the session is: one field, moved only by the transitions below
  /// The named state: the stored life stage, and while active, what the waiter and the
  /// server link say (they are the owners of those facts, so the state cannot drift from them).
  session_state state() const noexcept {
    if (life_ != session_state::idle) return life_;
    return wait_ ? session_state::waiting : srv ? session_state::linked : session_state::idle;
  }
  /// Its end is decided (closing) or done (finished): nothing new starts.
  bool closing() const noexcept { return life_ >= session_state::closing; }
  /// finish() has run: the client is gone.
  bool finished() const noexcept { return life_ == session_state::finished; }
  /// It got past the welcome once (still true while it closes).
  bool logged_in() const noexcept { return logged_in_; }
  /// logging_in -> idle: the welcome went out (to a client of a pool or of the console).
  void mark_logged_in() noexcept {
    if (life_ == session_state::logging_in) life_ = session_state::idle;
    logged_in_ = true;
  }
  /// -> closing. False if it was closing or finished already.
  bool begin_closing() noexcept {
    if (closing()) return false;
    life_ = session_state::closing;
    return true;
  }
  /// -> finished. False if it was finished already.
  bool end_finished() noexcept {
    if (finished()) return false;
    life_ = session_state::finished;
    return true;
  }

  /// No query, transaction or message in flight on either side.
  bool clean() const { return relay.clean(srv.get()); }
  bool releasable() const { return pool_->mode != pool_mode::session && !closing() && clean(); }

  // ---- session.cpp: errors, the end of a session, timeouts
  awaitable<void> send_error(std::string_view severity, std::string_view sqlstate,
                             std::string_view msg);
  /// Closes the client with a FATAL error, as pgbouncer's "closing because" does.
  awaitable<void> fatal(std::string_view sqlstate, std::string_view msg);
  /// Sends a FATAL error to the client, then ends the session.
  static void fail(self_ptr self, std::string_view sqlstate, std::string_view msg);
  static awaitable<void> fail_coro(self_ptr self, std::string sqlstate, std::string msg);
  /// The client is gone (or being closed): let the server chain wind down, then forget it.
  void finish();
  /// Leaves the pool's wait queue if queued (the client is gone or being closed).
  void leave_queue();
  /// While queued, the client socket is not read: watch it so that a client that closes
  /// leaves the queue at once instead of holding its place (and a server) for nobody.
  static void watch_while_queued(self_ptr self);

  // ---- login.cpp
  /// The whole login, in four steps: negotiate_startup, authenticate (or console_login),
  /// admit, welcome. False: the client was told why (or is gone) and the session ends.
  awaitable<bool> login(const self_ptr& self);
  /// SSLRequest/GSSENCRequest and a TLS handshake, CancelRequest, then the StartupMessage:
  /// user, database (login_db), the startup parameters sluice tracks; max_client_conn.
  awaitable<bool> negotiate_startup(const config& c, param_map& startup_tracked);
  /// After authentication: the database exists and is enabled, the client limits per
  /// database and per user admit the client; its pool (pool_).
  awaitable<bool> admit(const config& c);
  /// ParameterStatus (from the pool's first server login if none is known yet), the cancel
  /// key, login_notify_message and ReadyForQuery.
  awaitable<bool> welcome(const self_ptr& self, const config& c, param_map startup_tracked);
  /// The rest of a login to the `pgbouncer` database: who may, and the welcome.
  awaitable<bool> console_login(const self_ptr& self, const config& c);
  /// replication.cpp: a replication client's whole life after admit: a server of its own
  /// (the client's startup parameters and replication=...), the server's welcome, then the
  /// bytes relayed both ways unparsed until either side leaves.
  awaitable<void> replicate(const self_ptr& self, std::optional<pgwire::scram_keys> keys);
  /// console.cpp: the admin console's message loop, until the client leaves.
  static awaitable<void> run_console(self_ptr self, console_user who);
  /// Queues for a server of p (during login) until one comes or the wait fails.
  awaitable<server_ptr> wait_in_queue(const self_ptr& self, pool& p, wait_error& error);
  awaitable<bool> authenticate(const self_ptr& self, const config& c, const std::string& user,
                               const std::string& database,
                               std::optional<pgwire::scram_keys>& keys);
  /// The password of a user auth_file lacks, from auth_query run as auth_user on a server of
  /// its own pool; nullopt if none is configured, the user has none, or the query failed
  /// (logged). When no server could be had for the query, `no_server` says why; `found` says
  /// whether auth_query knew the user at all (what trust asks).
  awaitable<std::optional<std::string>> look_up_password(const self_ptr& self, const config& c,
                                                          const std::string& user,
                                                          const std::string& database,
                                                          wait_error& no_server, bool& found);
  /// auth_type = hba: how this client must authenticate per the first matching rule; when it
  /// is refused, `why` says so (and the result is auth_type::hba).
  auth_type hba_method(const config& c, const std::string& user, const std::string& database,
                       std::string& why) const;
  template <class FrameFn>
  awaitable<pgwire::frame_result> read_packet(FrameFn frame_fn, bool typed);
  awaitable<pgwire::frame_result> read_startup();
  /// A typed message of at most max_len bytes (the login's limit unless told otherwise).
  /// only != 0: any other message type is an error (errc::unexpected_message) at its first byte.
  awaitable<pgwire::frame_result> read_message(std::uint32_t max_len = pgwire::max_startup_packet,
                                               char only = 0);
  void consume(std::size_t n) { cbuf.erase(cbuf.begin(), cbuf.begin() + std::ptrdiff_t(n)); }

  // ---- relay.cpp: the client chain and the server chain (waiting for a server: session.cpp)
  static void start_relay(self_ptr self);
  static void arm_client(self_ptr self);
  static void on_client(self_ptr self, error_code ec);
  static void on_client_read(self_ptr self, error_code ec, std::size_t n);
  static void on_queued_readable(self_ptr self, error_code ec, std::size_t n);
  static bool still_queued(const client_session& c);
  void note_message(char tag, client_read& rd);
  static bool send_to_server(const self_ptr& self, const std::uint8_t* data, std::size_t len);
  /// An async write of cbuf ended: cbuf is let go, and the client chain resumes (or the
  /// session ends on error or when closing).
  static void cbuf_written(self_ptr self, error_code ec);
  static void find_server(self_ptr self);
  static void on_wait_done(std::shared_ptr<void> ctx, server_ptr srv, wait_error error);
  /// query_wait_notify: tells the client, once, that it is queued.
  static void on_wait_notify(const std::shared_ptr<void>& ctx);
  static void got_server(self_ptr self, server_ptr s, bool check);
  static awaitable<void> prepare_server(self_ptr self, server_ptr s, bool check);
  static void attach(self_ptr self);
  static void arm_server(self_ptr self);
  static void on_server(self_ptr self, error_code ec, std::size_t n);
  static void client_gone_while_writing(const self_ptr& self);
  static void server_next(self_ptr self);
  static void unlink(const self_ptr& self);
  /// Runs `sql` (server_reset_query, or UNLISTEN * after a client's LISTEN) on an unlinked
  /// server, then releases it; discards it, saying `what` failed, if the query fails.
  static awaitable<void> reset_and_release(shard& sh, server_ptr s, std::string sql,
                                           const char* what);

  // ---- prepared.cpp: statement renaming (track_statements)
  /// What the relay does with a client message on its way to server s: records the answer
  /// the server will owe, and renames or replaces statement messages (through em).
  pgwire::message_action route_message(server_conn& s, char tag, const pgwire::frame* f,
                                       pgwire::rewrite_emitter* em);
  /// Sends a Parse of def to s under a new name (closing what the LRU evicts first).
  std::uint64_t prepare_on_server(server_conn& s, const statement_ptr& def,
                                  pgwire::byte_buffer& out, reply_slot slot);
  void close_on_server(server_conn& s, std::uint64_t id, pgwire::byte_buffer& out,
                       reply_slot::action act);
  /// What to do with one message from the server, given the answers owed.
  enum class reply_step { forward, drop, as_parse_complete, unexpected };
  reply_step on_server_reply(server_conn& s, char tag, pgwire::bytes_view body);
  /// The answers owed up to the next ReadyForQuery will not come (the server skipped those
  /// messages after an error): their statements are forgotten, on both sides.
  void forget_skipped(server_conn& s);
  /// The client chain's read with statements tracked: rewritten for the linked server (or
  /// made whole for the next one), or answered here (answer_parses). False if the session
  /// was taken over (answered, or ended with an error).
  static bool route_read(self_ptr& self, std::size_t n, client_read& rd);
  /// What route_message refused (logged there), or an empty message if nothing.
  client_statements::refusal take_refusal();
  /// Records one message of a batch seen while unlinked (parse_batch).
  void note_parse_batch(parse_batch& b, char tag, const pgwire::frame* f);
  /// Answers a parse_batch: the names are the client's, the answers go out, the relay goes on.
  static void answer_parses(self_ptr self, parse_batch b);
  /// The client bytes kept while no server was linked, renamed for the server just linked:
  /// what to send (in cbuf or the shard's rewrite buffer).
  pgwire::bytes_view route_held(server_conn& s);

  // ---- listen.cpp: LISTEN/UNLISTEN in transaction and statement mode
  listen_state& listen_state_for(const self_ptr& self);
  /// The LISTEN/UNLISTEN statements (and statements, portals that are) in a client read that
  /// starts at a message boundary.
  void scan_listen(const self_ptr& self, const std::uint8_t* data, std::size_t n);
  /// A server reply while listening is on: CommandComplete confirms a statement, an error
  /// or ROLLBACK voids the transaction's, ReadyForQuery 'I' commits them.
  void listen_reply(char tag, pgwire::bytes_view body);
  void commit_listens();
  /// Unsubscribes every channel (the client is going).
  void drop_listens();
  /// Writes queued notifications if the client is between transactions.
  static void flush_notifications(const self_ptr& self);

  // ---- params.cpp
  /// Brings the server's session parameters in line with what this client has seen.
  awaitable<bool> replay_params();
  /// A ParameterStatus from the linked server: the server's and, if tracked, the client's
  /// view of the parameter follow it.
  void track_parameter_status(pgwire::bytes_view body);
};

}  // namespace sluice
