// LISTEN/UNLISTEN in transaction and statement mode: recognising the statements, taking
// them into effect as the server confirms and the transaction commits, and writing
// notifications to the client between its transactions (see listen.hpp).
#include "session/listen.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>

#include <cstring>

#include "net/stream.hpp"
#include "pgwire/messages.hpp"
#include "session/client_session.hpp"
#include "sluice/log.hpp"

namespace sluice {

namespace {

std::uint32_t be32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}

/// The C string at `at` in [at, end), advancing `at` past it; false if it is not terminated.
bool cstring(const std::uint8_t*& at, const std::uint8_t* end, std::string_view& out) {
  const void* z = std::memchr(at, 0, std::size_t(end - at));
  if (!z) return false;
  out = std::string_view(reinterpret_cast<const char*>(at),
                         std::size_t(static_cast<const std::uint8_t*>(z) - at));
  at = static_cast<const std::uint8_t*>(z) + 1;
  return true;
}

}  // namespace

bool may_listen(const listen_state* st, const std::uint8_t* data, std::size_t n) {
  if (st && !st->stmt_ops.empty()) return true;  // a Bind/Execute of one says nothing itself
  return contains_listen({reinterpret_cast<const char*>(data), n});
}

listen_state& client_session::listen_state_for(const self_ptr& self) {
  if (!listening) {
    listening = std::make_unique<listen_state>();
    listening->self = self;
  }
  return *listening;
}

void client_session::scan_listen(const self_ptr& self, const std::uint8_t* data, std::size_t n) {
  // The messages whole in this read, from its first byte (the caller checked that a message
  // starts there). A LISTEN split over two reads is not seen (the README says so).
  std::size_t i = 0;
  while (i + 5 <= n) {
    const char tag = static_cast<char>(data[i]);
    const std::uint32_t len = be32(data + i + 1);
    if (len < 4 || n - i - 1 < len) break;
    const std::uint8_t* at = data + i + 5;
    const std::uint8_t* end = data + i + 1 + len;
    i += 1 + std::size_t(len);
    std::string_view a, b;
    switch (tag) {
      case pgwire::fe::query: {
        if (!cstring(at, end, a)) break;
        auto ops = listen_ops(a);
        if (ops.empty()) break;
        listen_state& st = listen_state_for(self);
        for (auto& op : ops) st.pending.push_back(std::move(op));
        break;
      }
      case pgwire::fe::parse: {
        if (!cstring(at, end, a) || !cstring(at, end, b)) break;
        auto ops = listen_ops(b);
        if (!ops.empty()) {
          listen_state_for(self).stmt_ops[std::string(a)] = std::move(ops);
        } else if (listening) {
          listening->stmt_ops.erase(std::string(a));
        }
        break;
      }
      case pgwire::fe::bind: {
        if (!listening || !cstring(at, end, a) || !cstring(at, end, b)) break;
        auto it = listening->stmt_ops.find(std::string(b));
        if (it != listening->stmt_ops.end())
          listening->portal_ops[std::string(a)] = it->second;
        else
          listening->portal_ops.erase(std::string(a));
        break;
      }
      case pgwire::fe::execute: {
        if (!listening || !cstring(at, end, a)) break;
        auto it = listening->portal_ops.find(std::string(a));
        if (it == listening->portal_ops.end()) break;
        for (const auto& op : it->second) listening->pending.push_back(op);
        break;
      }
      case pgwire::fe::close: {
        if (!listening || end - at < 2) break;
        const char kind = static_cast<char>(*at++);
        if (!cstring(at, end, a)) break;
        (kind == 'S' ? listening->stmt_ops : listening->portal_ops).erase(std::string(a));
        break;
      }
      default:
        break;
    }
  }
}

void client_session::listen_reply(char tag, pgwire::bytes_view body) {
  listen_state& st = *listening;
  if (tag == pgwire::be::command_complete) {
    std::string_view t(reinterpret_cast<const char*>(body.data()), body.size());
    if (!t.empty() && t.back() == '\0') t.remove_suffix(1);
    st.last_rollback = t == "ROLLBACK";
    const bool is_listen = t == "LISTEN", is_unlisten = t == "UNLISTEN";
    if (!is_listen && !is_unlisten) return;
    if (is_listen) st.server_listened = true;
    // The next statement sent of the same kind is the one confirmed.
    while (!st.pending.empty()) {
      listen_op op = std::move(st.pending.front());
      st.pending.pop_front();
      if ((op.kind == listen_op::listen) == is_listen) {
        st.staged.push_back(std::move(op));
        return;
      }
    }
    log::debug("{} {} not recognised in what the client sent", prefix(), t);
  } else if (tag == pgwire::be::error_response) {
    st.staged_failed = true;
  } else if (tag == pgwire::be::ready_for_query) {
    st.pending.clear();  // what was not confirmed by now was skipped after an error
    const char status = body.size() == 1 ? static_cast<char>(body[0]) : 'I';
    if (status == 'E') st.staged_failed = true;
    if (status != 'I') return;
    if (!st.staged_failed && !st.last_rollback) commit_listens();
    st.staged.clear();
    st.staged_failed = st.last_rollback = false;
  }
}

void client_session::commit_listens() {
  listen_state& st = *listening;
  if (st.staged.empty()) return;
  if (!st.hub) st.hub = pool_->notifications();
  for (const listen_op& op : st.staged) {
    switch (op.kind) {
      case listen_op::listen:
        if (st.channels.insert(op.channel).second) st.hub->subscribe(sh, op.channel, this);
        break;
      case listen_op::unlisten:
        if (st.channels.erase(op.channel)) st.hub->unsubscribe(sh, op.channel, this);
        break;
      case listen_op::unlisten_all:
        for (const auto& ch : st.channels) st.hub->unsubscribe(sh, ch, this);
        st.channels.clear();
        break;
    }
  }
}

void client_session::drop_listens() {
  if (!listening) return;
  listen_state& st = *listening;
  if (st.hub)
    for (const auto& ch : st.channels) st.hub->unsubscribe(sh, ch, this);
  st.channels.clear();
  st.queue.clear();
  st.queued_bytes = 0;
}

void client_session::deliver(const notification_ptr& n) {
  if (closing() || !listening) return;
  listen_state& st = *listening;
  st.queue.push_back(n);
  st.queued_bytes += n->message.size();
  if (st.queued_bytes > notify_queue_limit) {
    log::warning("{} closing: {} bytes of notifications unread (limit {})", prefix(),
                 st.queued_bytes, notify_queue_limit);
    if (st.hub) st.hub->counters.dropped_clients.fetch_add(1, std::memory_order_relaxed);
    drop_listens();
    kill("client does not read its notifications", "53400");
    return;
  }
  if (self_ptr self = st.self.lock()) flush_notifications(self);
}

void client_session::flush_notifications(const self_ptr& self) {
  client_session& c = *self;
  if (!c.listening) return;
  listen_state& st = *c.listening;
  // Between transactions only: nothing linked or being linked, no write of anyone else's.
  if (st.writing || st.queue.empty() || c.closing() || c.srv || c.wait_ || c.client_writing ||
      !c.cbuf.empty() || !c.relay.clean(nullptr))
    return;
  st.out.clear();
  for (const auto& n : st.queue) st.out.insert(st.out.end(), n->message.begin(), n->message.end());
  st.queue.clear();
  error_code ec;
  std::span<const std::uint8_t> rest;
  if (net::write_now(c.sock, c.tls.get(), st.out.data(), st.out.size(), rest, ec)) {
    st.out.clear();
    st.queued_bytes = 0;
    return;
  }
  if (ec) {
    c.finish();
    return;
  }
  st.writing = true;
  asio::async_write(c.sock, asio::buffer(rest.data(), rest.size()),
                    [self](error_code wec, std::size_t) mutable {
                      client_session& cs = *self;
                      listen_state& ls = *cs.listening;
                      ls.writing = false;
                      if (cs.tls) cs.tls->output_written();
                      ls.out.clear();
                      ls.queued_bytes = 0;
                      for (const auto& q : ls.queue) ls.queued_bytes += q->message.size();
                      if (wec || cs.closing()) {
                        cs.finish();
                        return;
                      }
                      if (ls.link_after) {  // the client's next query waited for this write
                        ls.link_after = false;
                        find_server(std::move(self));
                        return;
                      }
                      flush_notifications(self);
                    });
}

awaitable<void> client_session::unlisten_and_release(shard& sh, server_ptr s) {
  pool& p = *s->owner;
  const std::shared_ptr<pool> hold = p.shared_from_this();
  std::string err;
  const bool ok = co_await server_simple_query(*s, "UNLISTEN *", &err);
  if (!ok) {
    p.discard(std::move(s), sh, fmt::format("UNLISTEN * failed: {}", err));
    co_return;
  }
  p.release(std::move(s), sh);
}

}  // namespace sluice
