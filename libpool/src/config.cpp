#include "sluice/config.hpp"
