#include <gtest/gtest.h>

#include "proto/codec.hpp"
#include "proto/keyspace.hpp"
