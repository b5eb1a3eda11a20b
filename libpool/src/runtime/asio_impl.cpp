// The one translation unit that compiles Asio's implementation (BOOST_ASIO_SEPARATE_COMPILATION).
#include <boost/asio/impl/src.hpp>
// And Beast's (BOOST_BEAST_SEPARATE_COMPILATION), for the HTTP endpoint.
#include <boost/beast/src.hpp>
