// libFuzzer target: typed-message framing of a server byte stream, then the decoders of the
// backend messages for each tag.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "pgwire/framer.hpp"
#include "pgwire/messages.hpp"
#include "fuzz_common.hpp"

namespace {

using fuzz::check_view;
using fuzz::run;

bool inside(const void* p, std::size_t n, const pgwire::frame& f) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  return n == 0 || (b >= f.body.data() && b + n <= f.body.data() + f.body.size());
}

void decode_backend(const pgwire::frame& f) {
  namespace be = pgwire::be;
  switch (f.tag) {
    case be::authentication: {
      pgwire::authentication_msg m;
      if (pgwire::decode(f, m) == pgwire::errc::ok) {
        if (!inside(m.data.data(), m.data.size(), f)) std::abort();
        for (auto s : m.mechanisms)
          if (s.empty() || !inside(s.data(), s.size(), f)) std::abort();
      }
      break;
    }
    case be::backend_key_data: run<pgwire::backend_key_data_msg>(f); break;
    case be::parameter_status: run<pgwire::parameter_status_msg>(f); break;
    case be::ready_for_query: {
      pgwire::ready_for_query_msg m;
      if (pgwire::decode(f, m) == pgwire::errc::ok && m.status != 'I' && m.status != 'T' &&
          m.status != 'E')
        std::abort();
      break;
    }
    case be::error_response:
    case be::notice_response: {
      pgwire::error_fields m;
      if (pgwire::decode(f, m) == pgwire::errc::ok)
        for (const auto& [code, v] : m.fields)
          if (code == 0 || !inside(v.data(), v.size(), f)) std::abort();
      break;
    }
    case be::row_description: {
      pgwire::row_description_msg m;
      if (pgwire::decode(f, m) == pgwire::errc::ok && m.fields.size() != std::size_t(m.nfields))
        std::abort();
      break;
    }
    case be::data_row: {
      pgwire::data_row_msg m;
      if (pgwire::decode(f, m) == pgwire::errc::ok) {
        if (m.columns.size() != std::size_t(m.ncolumns)) std::abort();
        for (const auto& c : m.columns)
          if (c && !inside(c->data(), c->size(), f)) std::abort();
      }
      break;
    }
    case be::command_complete: run<pgwire::command_complete_msg>(f); break;
    case be::parameter_description: {
      pgwire::parameter_description_msg m;
      if (pgwire::decode(f, m) == pgwire::errc::ok && m.oids.size() != std::size_t(m.nparams) * 4)
        std::abort();
      break;
    }
    case be::copy_in_response:
    case be::copy_out_response:
    case be::copy_both_response: {
      pgwire::copy_response_msg m;
      if (pgwire::decode(f, m) == pgwire::errc::ok &&
          (m.format > 1 || m.column_formats.size() != std::size_t(m.ncolumns) * 2))
        std::abort();
      break;
    }
    case be::copy_data: run<pgwire::copy_data_msg>(f); break;
    case be::notification_response: run<pgwire::notification_msg>(f); break;
    case be::negotiate_protocol_version: run<pgwire::negotiate_protocol_version_msg>(f); break;
    default: break;
  }
  for (char t : {be::parse_complete, be::bind_complete, be::close_complete, be::no_data,
                 be::portal_suspended, be::empty_query_response, be::copy_done})
    (void)pgwire::decode_empty(f, t);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::for_each_frame(pgwire::bytes_view(data, size), decode_backend);
  return 0;
}
