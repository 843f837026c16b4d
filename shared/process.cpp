// Boost.Process v2 is compiled once here (separate compilation) for every remora binary.
#include <boost/process/v2/src.hpp>
