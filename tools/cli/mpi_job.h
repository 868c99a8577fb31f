// glassbox as one rank of an MPI job (`mpirun -np N glassbox <command> ...`): joining the job at
// start-up (the world group, runtime/mpi/mpi_launch.h) with a check that every rank runs the same
// binary, the commands that run sharded or data-parallel (train, eval), and how an error ends the
// whole job.
#pragma once
#include <string>

namespace gb::cli {

// Joins the MPI job when an MPI launcher started this process (else nothing happens).
// throws: std::runtime_error when the build has no MPI, MPI fails to start, or the ranks' binaries
// differ (every rank throws).
void join_mpi_job(int* argc, char*** argv);

// Throws std::runtime_error when the job has several ranks and `command` cannot run on them.
void check_command_runs_in_job(const std::string& command);

// Reports an error of this rank (prefixed with the rank in a job of several) and, in a job of
// several ranks, ends every rank at once (the others may be waiting for this one); returns the
// exit status for a single process.
int fail_job(const std::string& message);

}  // namespace gb::cli
