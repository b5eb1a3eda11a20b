# Every BOOST_ASIO_* / BOOST_BEAST_* macro is set here, once, on an INTERFACE target.
# Asio is compiled separately (one translation unit, libpool/src/asio_impl.cpp) so the
# other translation units only see declarations.
add_library(sluice_asio INTERFACE)
target_compile_definitions(sluice_asio INTERFACE
  BOOST_ASIO_SEPARATE_COMPILATION
  BOOST_ASIO_NO_DEPRECATED
  BOOST_ASIO_DISABLE_BOOST_COROUTINE
  BOOST_BEAST_SEPARATE_COMPILATION
  BOOST_BEAST_USE_STD_STRING_VIEW
  # Each co_await on an async operation allocates an awaitable frame; Asio recycles freed
  # blocks per thread, but keeps only 2 by default: the relay nests deeper than that, and
  # every miss went to malloc (13% of the instructions per transaction under callgrind).
  BOOST_ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE=16)
target_link_libraries(sluice_asio INTERFACE Boost::headers Threads::Threads OpenSSL::SSL OpenSSL::Crypto)
