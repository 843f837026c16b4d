// Fault points: named places where a test can have the process killed, to prove that a crash
// there loses nothing committed and repeats nothing done.
//
// `REMORA_FAULT=NAME` kills the process with SIGKILL the first time it reaches the fault point
// NAME; `REMORA_FAULT=NAME:N` the N-th time. Unset (as always outside tests) a fault point costs
// one cached comparison. A process can only kill itself this way: there is nothing to exploit.
#pragma once

#include <string_view>

namespace remora {

void fault_point(std::string_view name);

}  // namespace remora
