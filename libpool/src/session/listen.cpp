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
  pgwire::bytes_view in(data, n);
  for (;;) {
    const pgwire::frame_result r = pgwire::frame_message(in, sh.cfg().max_packet_size);
    if (r.status != pgwire::frame_status::message) break;
    const pgwire::frame& f = r.msg;
    in = in.subspan(f.size);
    switch (f.tag) {
      case pgwire::fe::query: {
        pgwire::query_msg m;
        if (pgwire::decode(f, m) != pgwire::errc::ok) break;
        auto ops = listen_ops(m.sql);
        if (ops.empty()) break;
        listen_state& st = listen_state_for(self);
        for (auto& op : ops) st.pending.push_back(std::move(op));
        break;
      }
      case pgwire::fe::parse: {
        pgwire::parse_msg m;
        if (pgwire::decode(f, m) != pgwire::errc::ok) break;
        auto ops = listen_ops(m.sql);
        if (!ops.empty()) {
          listen_state_for(self).stmt_ops[std::string(m.name)] = std::move(ops);
        } else if (listening) {
          listening->stmt_ops.erase(std::string(m.name));
        }
        break;
      }
      case pgwire::fe::bind: {
        pgwire::bind_msg m;
        if (!listening || pgwire::decode(f, m) != pgwire::errc::ok) break;
        auto it = listening->stmt_ops.find(std::string(m.statement));
        if (it != listening->stmt_ops.end())
          listening->portal_ops[std::string(m.portal)] = it->second;
        else
          listening->portal_ops.erase(std::string(m.portal));
        break;
      }
      case pgwire::fe::execute: {
        pgwire::execute_msg m;
        if (!listening || pgwire::decode(f, m) != pgwire::errc::ok) break;
        auto it = listening->portal_ops.find(std::string(m.portal));
        if (it == listening->portal_ops.end()) break;
        for (const auto& op : it->second) listening->pending.push_back(op);
        break;
      }
      case pgwire::fe::close: {
        pgwire::close_msg m;
        if (!listening || pgwire::decode(f, m) != pgwire::errc::ok) break;
        (m.kind == 'S' ? listening->stmt_ops : listening->portal_ops).erase(std::string(m.name));
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
    pgwire::command_complete_msg m;
    if (pgwire::decode(pgwire::frame{tag, body, body.size() + 5}, m) != pgwire::errc::ok) return;
    const std::string_view t = m.tag;
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

}  // namespace sluice
