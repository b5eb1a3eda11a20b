// The one translation unit that compiles Boost.URL and Boost.JSON (both header-only here).
#include <boost/json/src.hpp>
#include <boost/url/src.hpp>
