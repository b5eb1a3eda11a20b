// libFuzzer target: an HTTP request as the endpoint reads it (Beast's parser with the
// server's limits, fed in two pieces), then routed as the server routes it. Whatever the
// bytes, routing either names an endpoint or gives an error status; a POST is routed only
// with the right bearer token.

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "http/router.hpp"

namespace bhttp = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t split = data[0] % size;  // where the first read ends
  ++data;
  --size;
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(8 * 1024);
  parser.body_limit(64 * 1024);
  boost::system::error_code ec;
  std::size_t used = 0;
  for (std::size_t end : {std::min(split, size), size}) {
    while (used < end && !parser.is_done()) {
      const std::size_t n = parser.put(boost::asio::buffer(data + used, end - used), ec);
      if (ec == bhttp::error::need_more) {
        ec = {};
        if (n == 0) break;  // keeps the unconsumed bytes for the next, longer piece
      }
      if (ec) return 0;
      used += n;
    }
  }
  if (!parser.is_done()) return 0;
  const auto& req = parser.get();
  const sluice::http::method m = req.method() == bhttp::verb::get    ? sluice::http::method::get
                                 : req.method() == bhttp::verb::post ? sluice::http::method::post
                                                                     : sluice::http::method::other;
  const std::string token = "fuzz-token";
  const std::string_view auth = req[bhttp::field::authorization];
  for (const std::string* t : {&token, static_cast<const std::string*>(nullptr)}) {
    const sluice::http::route_result r = sluice::http::route(m, req.target(), auth, t);
    if (!r.ep) {
      if (r.status < 400 || r.status > 405 || r.message.empty()) std::abort();
      if ((r.status == 405) == r.allow.empty()) std::abort();
      continue;
    }
    if (m == sluice::http::method::other) std::abort();
    if (!sluice::http::command_name(*r.ep).empty()) {
      // A command: only with a token configured and presented exactly.
      if (!t || m != sluice::http::method::post) std::abort();
      if (auth.size() != 7 + token.size() || auth.substr(7) != token) std::abort();
    }
  }
  return 0;
}
