# Every BOOST_ASIO_* / BOOST_BEAST_* macro is set here, once, on an INTERFACE target.
# Asio is compiled separately (one translation unit, libpool/src/asio_impl.cpp) so the
# other translation units only see declarations.
add_library(sluice_asio INTERFACE)
target_compile_definitions(sluice_asio INTERFACE
  BOOST_ASIO_SEPARATE_COMPILATION
  BOOST_ASIO_NO_DEPRECATED
  BOOST_ASIO_DISABLE_BOOST_COROUTINE
  BOOST_BEAST_SEPARATE_COMPILATION
  BOOST_BEAST_USE_STD_STRING_VIEW)
target_link_libraries(sluice_asio INTERFACE Boost::headers Threads::Threads OpenSSL::SSL OpenSSL::Crypto)
