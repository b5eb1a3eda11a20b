// libFuzzer target: typed-message framing of a client byte stream, then the decoder matching
// each frontend tag.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "pgwire/framer.hpp"
#include "pgwire/messages.hpp"
#include "pgwire/statements.hpp"
#include "fuzz_common.hpp"

namespace {

using fuzz::check_view;
using fuzz::run;

void rename_statement(const pgwire::frame& f);

void decode_frontend(const pgwire::frame& f) {
  namespace fe = pgwire::fe;
  switch (f.tag) {
    case fe::query: run<pgwire::query_msg>(f); break;
    case fe::parse: {
      pgwire::parse_msg m;
      if (pgwire::decode(f, m) == pgwire::errc::ok) {
        if (m.nparams < 0 || m.param_oids.size() != std::size_t(m.nparams) * 4) std::abort();
        check_view(m.param_oids, f);
      }
      break;
    }
    case fe::bind: {
      pgwire::bind_msg m;
      if (pgwire::decode(f, m) == pgwire::errc::ok) {
        if (m.formats.size() != std::size_t(m.nformats) * 2 ||
            m.result_formats.size() != std::size_t(m.nresult_formats) * 2)
          std::abort();
        check_view(m.formats, f);
        check_view(m.params, f);
        check_view(m.result_formats, f);
      }
      break;
    }
    case fe::describe: run<pgwire::describe_msg>(f); break;
    case fe::execute: run<pgwire::execute_msg>(f); break;
    case fe::close: run<pgwire::close_msg>(f); break;
    case fe::copy_data: run<pgwire::copy_data_msg>(f); break;
    case fe::copy_fail: run<pgwire::copy_fail_msg>(f); break;
    case fe::function_call: {
      pgwire::function_call_msg m;
      if (pgwire::decode(f, m) == pgwire::errc::ok) {
        check_view(m.formats, f);
        check_view(m.args, f);
      }
      break;
    }
    case fe::password: {
      // 'p' carries PasswordMessage, SASLInitialResponse or SASLResponse depending on state.
      run<pgwire::password_msg>(f);
      pgwire::sasl_initial_response_msg s;
      if (pgwire::decode(f, s) == pgwire::errc::ok && s.data) check_view(*s.data, f);
      run<pgwire::sasl_response_msg>(f);
      break;
    }
    default: break;
  }
  for (char t : {fe::sync, fe::flush, fe::terminate, fe::copy_done})
    (void)pgwire::decode_empty(f, t);
  rename_statement(f);
}

/// A statement name found is renamed; the result frames as one message naming the new
/// statement, with the same bytes before and after the name.
void rename_statement(const pgwire::frame& f) {
  pgwire::statement_ref ref;
  if (pgwire::find_statement(f, ref) != pgwire::errc::ok || !ref.present) return;
  check_view(pgwire::bytes_view(reinterpret_cast<const std::uint8_t*>(ref.name.data()),
                                ref.name.size()),
             f);
  pgwire::byte_buffer out;
  pgwire::write_renamed(out, f, ref, "fz");
  const auto r = pgwire::frame_message(out, 0xFFFFFFFFu);
  if (r.status != pgwire::frame_status::message || r.msg.size != out.size()) std::abort();
  pgwire::statement_ref again;
  if (pgwire::find_statement(r.msg, again) != pgwire::errc::ok || !again.present ||
      again.name != "fz" || again.offset != ref.offset)
    std::abort();
  const std::size_t old_after = ref.offset + ref.name.size() + 1, new_after = ref.offset + 3;
  if (r.msg.body.size() - new_after != f.body.size() - old_after) std::abort();
  if (!std::equal(f.body.begin() + std::ptrdiff_t(old_after), f.body.end(),
                  r.msg.body.begin() + std::ptrdiff_t(new_after)))
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::for_each_frame(pgwire::bytes_view(data, size), decode_frontend);
  return 0;
}
