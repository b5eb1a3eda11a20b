#pragma once
// A listening socket of the runtime (TCP or Unix).

#include <boost/asio/basic_socket_acceptor.hpp>
#include <string>

#include "runtime/runtime.hpp"

namespace sluice {

struct runtime::listener {
  listener(asio::io_context& io, bool unix_socket) : acc(io), is_unix(unix_socket) {}
  asio::basic_socket_acceptor<asio::generic::stream_protocol> acc;
  bool is_unix;
  std::string name;
};

}  // namespace sluice
