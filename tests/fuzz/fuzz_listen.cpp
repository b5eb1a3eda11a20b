// LISTEN / UNLISTEN statements in arbitrary client SQL (pool/listen_sql.cpp): never a crash
// or a read past the text; a statement found names a channel (or is UNLISTEN *); text
// without the word "listen" yields nothing.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "pool/listen_sql.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view sql(reinterpret_cast<const char*>(data), size);
  const auto ops = sluice::listen_ops(sql);
  if (!sluice::contains_listen(sql) && !ops.empty()) std::abort();
  for (const auto& op : ops) {
    if (op.kind == sluice::listen_op::unlisten_all ? !op.channel.empty() : op.channel.empty())
      std::abort();
  }
  (void)sluice::quote_channel(sql);
  return 0;
}
