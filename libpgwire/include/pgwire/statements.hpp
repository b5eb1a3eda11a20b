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

/// Appends f with the statement name at ref replaced by new_name; the rest of the body is
/// copied unchanged and the length is recomputed. ref must come from find_statement(f).
void write_renamed(byte_buffer& out, const frame& f, const statement_ref& ref,
                   std::string_view new_name);

/// What makes two Parse messages the same statement on a server: the query text and the
/// declared parameter types. Two clients' statements with equal keys can share one
/// server-side statement.
std::string statement_key(const parse_msg& m);

}  // namespace pgwire
