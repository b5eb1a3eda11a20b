#pragma once
// A client's LISTEN/UNLISTEN in transaction and statement mode (listen.cpp): the statements
// are run by the linked server as usual (so every reply is PostgreSQL's own), recognised on
// their way there, and take effect for the client when the server confirms them and the
// transaction commits. Notifications come from the pool's listening connection
// (pool/notify_hub.hpp) and are written to the client between its transactions.

#include <cstddef>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "pgwire/writer.hpp"
#include "pool/listen_sql.hpp"
#include "pool/notify_hub.hpp"

namespace sluice {

class client_session;

/// Notification bytes a client may have queued, unsent, before it is closed for not reading.
inline constexpr std::size_t notify_queue_limit = 1024 * 1024;

struct listen_state {
  std::weak_ptr<client_session> self;
  std::shared_ptr<notify_hub> hub;
  std::set<std::string> channels;  ///< committed subscriptions
  std::deque<listen_op> pending;   ///< sent to the server, not yet confirmed
  std::vector<listen_op> staged;   ///< confirmed in the transaction under way
  bool staged_failed = false;      ///< an error in it: it will not commit
  bool last_rollback = false;      ///< the last command completed was ROLLBACK
  bool server_listened = false;    ///< the linked server ran LISTEN: UNLISTEN * before reuse
  /// Named statements and portals that are LISTEN / UNLISTEN ("" = the unnamed one).
  std::unordered_map<std::string, std::vector<listen_op>> stmt_ops, portal_ops;
  std::deque<notification_ptr> queue;  ///< not yet written
  std::size_t queued_bytes = 0;        ///< of queue and out
  pgwire::byte_buffer out;             ///< being written
  bool writing = false;
  bool link_after = false;  ///< the client sent a query during the write: link once it ends
};

/// True if a client read may hold LISTEN / UNLISTEN (or runs a statement that is one).
bool may_listen(const listen_state* st, const std::uint8_t* data, std::size_t n);

}  // namespace sluice
