#include <doctest/doctest.h>

#include "tests/test_util.h"
