#include "worker/tool_confinement.hpp"

namespace remora::worker {

ToolConfinement& tool_confinement() {
  static ToolConfinement confinement;
  return confinement;
}

}  // namespace remora::worker
