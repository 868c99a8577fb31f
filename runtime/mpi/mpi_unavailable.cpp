// mpi_launch.h for a build without MPI: a launch under mpirun is refused with an error saying
// how to build with MPI. No shapes here.
#include <stdexcept>

#include "runtime/mpi/mpi_launch.h"

namespace gb {

bool mpi_available() { return false; }

std::unique_ptr<ProcessGroup> init_mpi(int*, char***) {
  throw std::runtime_error(
      "this glassbox was built without MPI: install libopenmpi-dev and reconfigure (CMake "
      "option GLASSBOX_MPI, on by default, needs it) to run it under mpirun");
}

}  // namespace gb
