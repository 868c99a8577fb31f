// Starting glassbox as one rank of an MPI job (`mpirun -np N glassbox ...`): detecting the
// launcher, initialising MPI and installing the world group (runtime/process_group.h). The
// implementation over Open MPI is runtime/mpi/mpi_process_group.cpp, built when CMake finds MPI
// (GLASSBOX_MPI, on by default); without it, mpi_unavailable.cpp refuses an MPI launch with an
// error saying so, and the single-process binary is unchanged. No shapes here.
#pragma once
#include <memory>

#include "runtime/process_group.h"

namespace gb {

// True when an MPI launcher started this process (it set OMPI_COMM_WORLD_SIZE, PMI_SIZE or
// PMIX_RANK in the environment), whatever the build.
bool launched_by_mpi();

// True when this build can join an MPI job.
bool mpi_available();

// Initialises MPI (threads: only the calling thread makes MPI calls) and returns the group of
// all ranks; MPI is finalised when the group is destroyed.
// throws: std::runtime_error when the build has no MPI or MPI fails to start.
std::unique_ptr<ProcessGroup> init_mpi(int* argc, char*** argv);

}  // namespace gb
