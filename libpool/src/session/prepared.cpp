// Prepared statements in transaction mode, the relay's side: how client_session's statement
// methods use the bookkeeping of pool/statements.hpp (the client side rewrites, the server
// side undoes in order).
#include <fmt/format.h>

#include <boost/asio/write.hpp>

#include "pgwire/statements.hpp"
#include "pool/statements.hpp"
#include "session/client_session.hpp"
#include "sluice/log.hpp"

namespace sluice {

namespace {

using pgwire::message_action;

bool is_named(const pgwire::statement_ref& ref) { return ref.present && !ref.name.empty(); }

/// A name the client never prepared that is one of sluice's own: another client's statement
/// on this server. It must not reach the server as it is (a Close would drop a statement the
/// cache still lists); it is sent as a name no statement has.
bool foreign(const pgwire::statement_ref& ref) {
  return is_named(ref) && ref.name.starts_with("sluice_");
}

}  // namespace

void client_session::close_on_server(server_conn& s, std::uint64_t id, pgwire::byte_buffer& out,
                                     reply_slot::action act) {
  char buf[32];
  pgwire::write_close(out, 'S', id ? server_statement_name(id, buf) : no_statement_name);
  reply_slot slot;
  slot.k = reply_slot::kind::close;
  slot.act = act;
  s.replies.push(std::move(slot));
}

std::uint64_t client_session::prepare_on_server(server_conn& s, const statement_ptr& def,
                                                pgwire::byte_buffer& out, reply_slot slot) {
  std::vector<std::uint64_t> evicted;  // allocates only when the LRU is full
  const std::uint64_t id =
      s.statements.add(def, std::size_t(sh.cfg().max_prepared_statements), evicted);
  for (const std::uint64_t old : evicted) close_on_server(s, old, out, reply_slot::action::drop);
  char buf[32];
  pgwire::write_parse_tail(out, server_statement_name(id, buf), def->bytes());
  slot.k = reply_slot::kind::parse;
  slot.server_id = id;
  slot.def = def;
  s.replies.push(std::move(slot));
  bump(pool_->locals[sh.id].server_parse_count, std::uint64_t{1});
  return id;
}

pgwire::message_action client_session::route_message(server_conn& s, char tag,
                                                     const pgwire::frame* f,
                                                     pgwire::rewrite_emitter* em) {
  switch (tag) {
    case pgwire::fe::query:
    case pgwire::fe::function_call:
    case pgwire::fe::sync:
      s.replies.push_ready();
      return message_action::keep;
    case pgwire::fe::terminate:
      return message_action::stop;
    default:
      break;
  }
  if (!f) return message_action::keep;
  pgwire::statement_ref ref;
  // A message that does not decode up to its name goes as it is: the server refuses it.
  if (pgwire::find_statement(*f, ref) != pgwire::errc::ok) ref = {};
  if (tag == pgwire::fe::parse) {
    if (!is_named(ref)) {
      reply_slot slot;
      slot.k = reply_slot::kind::parse;
      s.replies.push(std::move(slot));
      return message_action::keep;
    }
    if (!statements) statements = std::make_unique<client_statements>();
    if (statements->find(ref.name) && !statements->failed(ref.name)) {
      log::warning("{} prepared statement '{}' was already prepared", prefix(), ref.name);
      statements->refused = {"42P05",
                             fmt::format("prepared statement \"{}\" already exists", ref.name)};
      return message_action::stop;
    }
    auto def = std::make_shared<const statement_def>(pgwire::parse_tail(*f, ref));
    statements->add(ref.name, def);
    bump(pool_->locals[sh.id].client_parse_count, std::uint64_t{1});
    pgwire::byte_buffer& out = em->replace();
    if (s.statements.find(*def)) {
      // The server has it already: a Close of no statement brings the answer in its place.
      close_on_server(s, 0, out, reply_slot::action::as_parse_complete);
      reply_slot& slot = s.replies.back();
      slot.def = std::move(def);
      slot.client_name = std::string(ref.name);
      return message_action::replaced;
    }
    reply_slot slot;
    slot.def = def;
    slot.client_name = std::string(ref.name);
    prepare_on_server(s, def, out, std::move(slot));
    return message_action::replaced;
  }
  if (tag == pgwire::fe::close) {
    reply_slot slot;
    slot.k = reply_slot::kind::close;
    const statement_ptr* def = is_named(ref) && statements ? statements->find(ref.name) : nullptr;
    if (!def) {
      s.replies.push(std::move(slot));
      if (!foreign(ref)) return message_action::keep;  // a portal, the unnamed statement, or
                                                       // a name of the session's (SQL PREPARE)
      pgwire::write_renamed(em->replace(), *f, ref, no_statement_name);
      return message_action::replaced;
    }
    // Forget the client's name; the server keeps the statement for whoever runs it next.
    statements->erase(ref.name);
    close_on_server(s, 0, em->replace(), reply_slot::action::forward);
    return message_action::replaced;
  }
  // Bind, Describe.
  if (!is_named(ref)) return message_action::keep;  // the unnamed statement, a portal
  const statement_ptr* found = statements ? statements->find(ref.name) : nullptr;
  if (!found) {
    // A name the client never prepared (or dropped with DEALLOCATE/DISCARD ALL): as
    // pgbouncer, the client is told and closed. Answering like PostgreSQL and going on
    // would need every pipelined message after it skipped up to the Sync.
    log::error("{} prepared statement '{}' not found", prefix(), ref.name);
    if (!statements) statements = std::make_unique<client_statements>();
    statements->refused = {"08P01", "prepared statement did not exist"};
    return message_action::stop;
  }
  const statement_ptr def = *found;
  if (tag == pgwire::fe::bind) bump(pool_->locals[sh.id].bind_count, std::uint64_t{1});
  pgwire::byte_buffer& out = em->replace();
  std::uint64_t id = s.statements.find(*def);
  if (!id) {
    reply_slot slot;
    slot.act = reply_slot::action::drop;
    id = prepare_on_server(s, def, out, std::move(slot));
  }
  char buf[32];
  pgwire::write_renamed(out, *f, ref, server_statement_name(id, buf));
  return message_action::replaced;
}

bool client_session::route_read(self_ptr& self, std::size_t n, client_read& rd) {
  client_session& c = *self;
  // Statement messages are renamed for the linked server; with none linked yet they are only
  // made whole here, and renamed once one is (route_held).
  server_conn* s = c.srv.get();
  parse_batch local;  // unlinked: a batch the pooler may answer itself
  const pgwire::rewrite_result r = pgwire::rewrite_stream(
      c.relay.cscan, pgwire::bytes_view(rd.data, n), c.sh.rewrite_buf,
      [&](char tag, const pgwire::frame* f, pgwire::rewrite_emitter* em) {
        c.note_message(tag, rd);
        if (s) return c.route_message(*s, tag, f, em);
        c.note_parse_batch(local, tag, f);
        return tag == pgwire::fe::terminate ? message_action::stop : message_action::keep;
      });
  rd.err = r.error;
  rd.split_terminate = r.stop_split && rd.terminate;
  if (r.copied) rd.data = c.sh.rewrite_buf.data();
  rd.forward = r.length;
  c.relay.cscan.shrink();
  if (client_statements::refusal why = c.take_refusal(); !why.message.empty()) {
    // As pgbouncer, the client is told and closed; nothing of this read is forwarded.
    if (!c.clean()) c.relay.poison_server = true;
    fail(std::move(self), why.sqlstate, why.message);
    return false;
  }
  if (!s && r.error == pgwire::errc::ok && !r.stopped && r.length == n && local.answerable &&
      local.syncs > 0 && c.relay.cscan.at_boundary() && c.relay.tx_status == 'I' &&
      c.relay.pending_rfq == local.syncs && rd.unknown_tag < 0 && !rd.pqexec_refused) {
    bump(c.pool_->locals[c.sh.id].bytes_in, std::uint64_t(n));
    answer_parses(std::move(self), std::move(local));
    return false;
  }
  return true;
}

client_statements::refusal client_session::take_refusal() {
  if (!statements) return {};
  return std::exchange(statements->refused, {});
}

void client_session::note_parse_batch(parse_batch& b, char tag, const pgwire::frame* f) {
  if (!b.answerable) return;
  if (tag == pgwire::fe::sync) {
    ++b.syncs;
    b.answers.push_back(pgwire::be::ready_for_query);
    return;
  }
  pgwire::statement_ref ref;
  if (tag != pgwire::fe::parse || !f || pgwire::find_statement(*f, ref) != pgwire::errc::ok ||
      !is_named(ref) || b.syncs > 0) {
    b.answerable = false;  // anything else needs a server; so do Parses after a Sync
    return;
  }
  auto def = std::make_shared<const statement_def>(pgwire::parse_tail(*f, ref));
  if (!pool_->locals[sh.id].known_statements.find(*def)) {
    b.answerable = false;
    return;
  }
  b.answers.push_back(pgwire::be::parse_complete);
  b.parses.emplace_back(std::string(ref.name), std::move(def));
}

void client_session::answer_parses(self_ptr self, parse_batch b) {
  client_session& c = *self;
  if (!c.statements) c.statements = std::make_unique<client_statements>();
  for (auto& [name, def] : b.parses) {
    if (c.statements->find(name) && !c.statements->failed(name)) {
      const std::string why = fmt::format("prepared statement \"{}\" already exists", name);
      log::warning("{} prepared statement '{}' was already prepared", c.prefix(), name);
      fail(std::move(self), "42P05", why);
      return;
    }
    c.statements->add(name, std::move(def));
    bump(c.pool_->locals[c.sh.id].client_parse_count, std::uint64_t{1});
  }
  c.relay.pending_rfq = 0;
  c.relay.batch_open = false;
  c.relay.query_counted = false;
  c.relay.query_start = {};
  c.relay.xact_start = {};
  c.cbuf.clear();
  for (const char tag : b.answers) {
    pgwire::message_writer w(c.cbuf, tag);
    if (tag == pgwire::be::ready_for_query) w.u8('I');
  }
  if (c.tls) {  // the answers go out encrypted: cbuf holds them as they leave
    if (c.tls->write(c.cbuf) != net::tls_engine::status::ok) {
      c.finish();
      return;
    }
    c.cbuf.clear();
    c.tls->take_output(c.cbuf);
  }
  asio::async_write(c.sock, asio::buffer(c.cbuf), [self](error_code ec, std::size_t) mutable {
    cbuf_written(std::move(self), ec);
  });
}

pgwire::bytes_view client_session::route_held(server_conn& s) {
  // cbuf begins at a message boundary (a server is linked only between transactions) and
  // holds whole statement messages (the client scanner held back any that were not): a
  // scanner of its own walks it again, this time with a server to rename for.
  const std::uint32_t max = std::uint32_t(sh.cfg().max_packet_size);
  pgwire::stream_scanner walk(max, max);
  const pgwire::bytes_view held(cbuf.data(), cbuf.size());
  const pgwire::rewrite_result r = pgwire::rewrite_stream(
      walk, held, sh.rewrite_buf,
      [&](char tag, const pgwire::frame* f, pgwire::rewrite_emitter* em) {
        return route_message(s, tag, f, em);
      });
  if (r.copied) return {sh.rewrite_buf.data(), r.length};
  return held.subspan(0, r.length);
}

void client_session::forget_skipped(server_conn& s) {
  reply_queue& q = s.replies;
  while (!q.empty() && q.front().k != reply_slot::kind::ready) {
    reply_slot& slot = q.front();
    if (slot.server_id) s.statements.erase(slot.server_id);
    // Refused or skipped: not known good any more (the schema may have changed). The
    // client's name stays, as in pgbouncer: its next Bind prepares it again (and gets the
    // Parse's error if it fails again); a new Parse of the name replaces it.
    if (slot.def) {
      pool_->locals[sh.id].known_statements.forget(*slot.def);
      if (!slot.client_name.empty() && statements)
        statements->mark_failed(slot.client_name, slot.def.get());
    }
    q.pop();
  }
}

client_session::reply_step client_session::on_server_reply(server_conn& s, char tag,
                                                           pgwire::bytes_view body) {
  reply_queue& q = s.replies;
  switch (tag) {
    case pgwire::be::parse_complete:
    case pgwire::be::close_complete: {
      const auto want = tag == pgwire::be::parse_complete ? reply_slot::kind::parse
                                                          : reply_slot::kind::close;
      if (q.empty() || q.front().k != want) return reply_step::unexpected;
      reply_slot& slot = q.front();
      if (slot.def && tag == pgwire::be::parse_complete) {
        std::vector<std::uint64_t> evicted;
        server_statements& known = pool_->locals[sh.id].known_statements;
        if (!known.find(*slot.def))
          known.add(slot.def, std::size_t(sh.cfg().max_prepared_statements), evicted);
      }
      const reply_step step = slot.act == reply_slot::action::drop ? reply_step::drop
                              : slot.act == reply_slot::action::as_parse_complete
                                  ? reply_step::as_parse_complete
                                  : reply_step::forward;
      q.pop();
      return step;
    }
    case pgwire::be::error_response:
      // The server skips everything up to the next Sync: what it skipped did not happen.
      forget_skipped(s);
      q.skipping = true;
      return reply_step::forward;
    case pgwire::be::ready_for_query:
      if (q.skipping) {
        // Messages the client pipelined after the failed one and before its Sync reached the
        // server after the error: skipped as well, with no answer.
        forget_skipped(s);
        q.skipping = false;
      }
      if (!q.empty()) {
        if (q.front().k != reply_slot::kind::ready) return reply_step::unexpected;
        q.pop();
      }
      return reply_step::forward;
    case pgwire::be::command_complete:
      // The client's names go with the server's statements (as pgbouncer 1.22+).
      if (drops_all_statements(body)) {
        s.statements.clear();
        if (statements) statements->clear();
      }
      return reply_step::forward;
    default:
      return reply_step::forward;
  }
}

}  // namespace sluice
