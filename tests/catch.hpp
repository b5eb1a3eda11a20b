#pragma once
// The one place the Catch2 version is named: moving to Catch2 v3 changes only this file.
#include <catch2/catch.hpp>
