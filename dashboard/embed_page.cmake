# Writes OUT, a C++ file defining kDashboardPage with the bytes of IN (the dashboard's page), so
# the binary serves it with no file to find at runtime. Run by CMake at build time (cmake -P).
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR size "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
file(WRITE "${OUT}" "// Generated from dashboard/page.html by dashboard/embed_page.cmake: do not edit.\n"
  "#include <cstddef>\nnamespace remora {\nextern const char kDashboardPage[];\nextern const std::size_t kDashboardPageSize;\n"
  "const char kDashboardPage[] = {${bytes} 0};\nconst std::size_t kDashboardPageSize = ${size};\n}  // namespace remora\n")
