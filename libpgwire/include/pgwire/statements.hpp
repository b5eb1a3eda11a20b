#pragma once
/// @file statements.hpp
/// Statement names in frontend messages, for prepared statements in transaction mode: the
/// pooler runs a client's named statement under a name of its own on whichever server the
/// client is linked to. Sans-io: a frame in, a rewritten message appended to a buffer out.

#include <cstddef>
#include <string>
#include <string_view>

#include "pgwire/errc.hpp"
#include "pgwire/framer.hpp"
#include "pgwire/messages.hpp"
#include "pgwire/scanner.hpp"
#include "pgwire/writer.hpp"

namespace pgwire {

/// Where a frontend message names a prepared statement.
struct statement_ref {
  bool present = false;   ///< false: the message names no statement (or a portal)
  std::string_view name;  ///< the statement's name ("" = the unnamed statement)
  std::size_t offset = 0;  ///< of the name in the frame's body
};

/// The statement named by Parse (the one it creates), Bind (the one it binds), and Describe
/// or Close of kind 'S'. Any other message, or Describe/Close of a portal, names none.
/// Fails (truncated, bad_field) on a body the message's own decoder would reject up to the
/// name.
errc find_statement(const frame& f, statement_ref& out) noexcept;

/// Appends f with the statement name at ref replaced by new_name; the rest of f.body is
/// copied unchanged. The length written is f.size's (the declared size, which may be more than
/// f.body when f.body is only the head of a message whose rest streams after it) minus the
/// old name plus the new one. ref must come from find_statement(f).
void write_renamed(byte_buffer& out, const frame& f, const statement_ref& ref,
                   std::string_view new_name);

/// Appends f's header, with its declared size (f.size), and f.body: the message as it came
/// when f.body is all of it, its beginning when the rest streams after it.
void write_frame_start(byte_buffer& out, const frame& f);

/// What follows the name in a Parse body: the query text and the declared parameter types.
/// Two Parse messages with equal tails are the same statement on a server, so two clients'
/// statements with equal tails can share one server-side statement. ref must come from
/// find_statement(f) on a Parse.
bytes_view parse_tail(const frame& f, const statement_ref& ref) noexcept;

/// Appends a Parse of statement `name` whose body goes on with `tail` (from parse_tail): the
/// Parse a pooler sends on a client's behalf to a server that lacks the statement.
void write_parse_tail(byte_buffer& out, std::string_view name, bytes_view tail);

/// The messages that can name a statement: Parse, Bind, Describe, Close.
constexpr bool names_statement(char tag) noexcept {
  return tag == fe::parse || tag == fe::bind || tag == fe::describe || tag == fe::close;
}

/// What a renaming pooler must see of a frontend message before it can forward it: a named
/// Parse whole (its query text and parameter types are the statement, kept and compared); of
/// an unnamed Parse only the name; of a Bind its portal and statement names, the parameters
/// stream after them; Describe and Close whole (a kind byte and a name). Nothing of others.
constexpr collect statement_collect(char tag) noexcept {
  switch (tag) {
    case fe::parse:
      return collect::head(1, /*whole_if_named=*/true);
    case fe::bind:
      return collect::head(2);
    case fe::describe:
    case fe::close:
      return collect::whole();
    default:
      return collect::nothing();
  }
}

/// What a rewrite_stream hook does with one message.
enum class message_action {
  keep,      ///< forward it as it came
  replaced,  ///< the hook wrote what goes in its place (rewrite_emitter::replace)
  stop,      ///< forward nothing from this message on (in this chunk)
};

/// Handed to a rewrite_stream hook with a statement message: where to write its replacement.
class rewrite_emitter {
 public:
  /// The output, with every byte before this message already in it; what the hook appends
  /// goes in the message's place. The message itself is dropped (the hook may append it
  /// again, renamed or not, with whatever goes before or after it).
  byte_buffer& replace() {
    if (!replaced_) {
      flush_(start_);
      replaced_ = true;
    }
    return out_;
  }
  bool replaced() const noexcept { return replaced_; }

 private:
  template <class Hook>
  friend struct rewrite_walk;
  using flush_fn = void (*)(void*, std::size_t);
  rewrite_emitter(byte_buffer& out, std::size_t start, void (*flush)(void*, std::size_t),
                  void* ctx)
      : out_(out), start_(start), flush_raw_(flush), ctx_(ctx) {}
  void flush_(std::size_t upto) { flush_raw_(ctx_, upto); }
  byte_buffer& out_;
  std::size_t start_;
  flush_fn flush_raw_;
  void* ctx_;
  bool replaced_ = false;
};

/// What rewrite_stream made of one chunk.
struct rewrite_result {
  errc error = errc::ok;  ///< a framing error: the stream is unusable
  bool copied = false;    ///< what to send is `out`; otherwise it is in[0, length)
  std::size_t length = 0;  ///< bytes to send
  bool stopped = false;    ///< a hook said stop
  /// The message the hook stopped at began in an earlier chunk, whose part of it was sent.
  bool stop_split = false;
};

template <class Hook>
struct rewrite_walk {
  stream_scanner& sc;
  bytes_view in;
  byte_buffer& out;
  Hook& hook;
  rewrite_result r{};
  std::size_t raw_from = 0;  // in[raw_from, ...) is not in out yet
  std::size_t stop_at = 0;

  static void flush(void* self, std::size_t upto) {
    auto& w = *static_cast<rewrite_walk*>(self);
    if (upto > w.raw_from) w.out.insert(w.out.end(), w.in.begin() + std::ptrdiff_t(w.raw_from),
                                        w.in.begin() + std::ptrdiff_t(upto));
    w.raw_from = std::max(w.raw_from, upto);
    w.r.copied = true;
  }

  void on(char tag, bytes_view body, std::size_t header_end, std::size_t end) {
    if (r.stopped) return;
    // body is the whole message's, or for a Bind or an unnamed Parse its head: the rest of
    // the body follows in the stream, from `end`, as it comes.
    if (!names_statement(tag)) {
      if (hook(tag, static_cast<const frame*>(nullptr), static_cast<rewrite_emitter*>(nullptr)) ==
          message_action::stop) {
        stop(header_end);
      }
      return;
    }
    // A statement message arrives as what statement_collect asks for. In place means all of
    // that is in this chunk; else its earlier bytes were held back and this chunk's part of
    // it starts at 0.
    const bool in_place = header_end >= 5;
    const std::size_t start = in_place ? header_end - 5 : 0;
    const frame f{tag, body, 5 + std::size_t(sc.message_length())};
    rewrite_emitter em(out, start, &rewrite_walk::flush, this);
    const message_action a = hook(tag, &f, &em);
    if (a == message_action::stop) {
      stop(header_end);
      return;
    }
    if (em.replaced()) {
      raw_from = end;
    } else if (!in_place) {
      flush(this, start);
      write_frame_start(out, f);
      raw_from = end;
    }
  }

  void stop(std::size_t header_end) {
    r.stopped = true;
    r.stop_split = header_end < 5;
    stop_at = r.stop_split ? 0 : header_end - 5;
  }
};

/// Walks one chunk of a client's stream for a pooler that renames statements. `hook(tag,
/// frame, emitter)` is called for every message in order: for Parse, Bind, Describe and Close
/// once what statement_collect asks for has arrived, with the frame and an emitter to replace
/// what arrived; for the others at their header, with null frame and emitter. A frame whose
/// body is shorter than its size is a head: what the emitter writes in its place must keep the
/// declared size right (write_renamed does), the rest of the body streams after it. Bytes of
/// a statement message not yet collected are held by the scanner (which must collect up to
/// the stream's maximum length) and sent once they are. When no message is replaced and none
/// was held, what to send is a prefix of `in` (no copy); otherwise it is built in `out`.
template <class Hook>
rewrite_result rewrite_stream(stream_scanner& sc, bytes_view in, byte_buffer& out, Hook&& hook) {
  out.clear();
  rewrite_walk<std::remove_reference_t<Hook>> w{sc, in, out, hook};
  w.r.error = sc.feed(in, statement_collect,
                      [&w](char tag, bytes_view body, std::size_t header_end, std::size_t end) {
                        w.on(tag, body, header_end, end);
                      });
  if (w.r.error != errc::ok) return w.r;
  const std::size_t limit = w.r.stopped ? w.stop_at : sc.incomplete_from(in.size(), statement_collect);
  if (w.r.copied) {
    rewrite_walk<std::remove_reference_t<Hook>>::flush(&w, limit);
    w.r.length = out.size();
  } else {
    w.r.length = limit;
  }
  return w.r;
}

}  // namespace pgwire
